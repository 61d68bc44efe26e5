// Placeholder until the netlink layer lands.

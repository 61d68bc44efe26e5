// Rows netcls.classid and netprio.ifpriomap (D "Net_cls and net_prio cgroup";
// cgroup-v1/net_cls.rst, cgroup-v1/net_prio.rst). Both controllers exist on v1 only.
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include "cg_suite.h"
#include "cgroup_devices.h"
#include "netlink.h"
#include "netlink_tc.h"

namespace ckc::test {
namespace {

// In a child: sends `count` UDP datagrams to `to`:`port` (broadcast allowed); returns how many
// went.
int SendUdp(const char* to, uint16_t port, int count) {
  int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -errno;
  int one = 1;
  ::setsockopt(s, SOL_SOCKET, SO_BROADCAST, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  ::inet_pton(AF_INET, to, &addr.sin_addr);
  int sent = 0;
  for (int i = 0; i < count; ++i) {
    if (::sendto(s, "ckc", 3, 0, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 3) ++sent;
  }
  ::close(s);
  return sent;
}

TEST(NetCls, Classid) {
  // Source: D "Net_cls and net_prio cgroup" ("net_cls will assign traffic to a class ...
  // classes have to be matched with tc"); cgroup-v1/net_cls.rst (tc filter ... cgroup).
  // Negative control: net_cls.classid left at 0 sends the group's packets to 1:2 and fails.
  CKC_BEHAVIOUR("netcls.classid", "D",
                "v1: packets a group sends carry its net_cls.classid, so a tc cgroup filter sorts "
                "them into that class, while traffic from outside the group is not");
  CKC_REQUIRE(Root(), ServedByCgroupVersion("net_cls", 1, "v2-has-no-net_cls"),
              Config("CONFIG_NET_CLS_CGROUP"), Config("CONFIG_NET_SCH_HTB"), Config("CONFIG_VETH"),
              NamespaceQuota(CLONE_NEWNET));
  // The device and its qdisc live in a scratch namespace.
  ASSERT_OK_AND_ASSIGN(Netns ns, Netns::Create());
  ASSERT_OK_AND_ASSIGN(NetlinkSocket nl, NetlinkSocket::OpenIn(ns));
  ASSERT_OK_AND_ASSIGN(VethPair veth, nl.CreateVeth({.name = "ckc0", .peer = "ckc1"}));
  ASSERT_OK(nl.SetUp("ckc1"));
  ASSERT_OK(nl.SetUp("ckc0"));
  ASSERT_OK(nl.AddAddress("ckc0", "10.201.0.1", 24));
  // htb 1: sends unclassified traffic to 1:2; the filter sends the group's to its classid 1:3.
  ASSERT_OK(AddHtbQdisc(nl, "ckc0", 1, 2));
  ASSERT_OK(AddHtbClass(nl, "ckc0", 1, 2, 1u << 30));
  ASSERT_OK(AddHtbClass(nl, "ckc0", 1, 3, 1u << 30));
  ASSERT_OK(AddCgroupFilter(nl, "ckc0", 1));
  ASSERT_OK_AND_ASSIGN(Cgroup cg, Cgroup::Create(Cgroups(), "netcls", {"net_cls"}));
  ASSERT_OK(cg.Write("net_cls", "net_cls.classid", "0x10003"));  // class 1:3
  int ns_fd = ns.fd();
  auto sender = [ns_fd](Channel& ch) {
    if (::setns(ns_fd, CLONE_NEWNET) != 0) return ReportErrno(ch, "setns");
    return Report(ch, std::to_string(SendUdp("10.201.0.255", 9, 20)), 0);
  };
  auto counts = [&] {
    auto c2 = ClassPackets(nl, "ckc0", 1, 2), c3 = ClassPackets(nl, "ckc0", 1, 3);
    return std::pair<uint64_t, uint64_t>(c2.value_or(0), c3.value_or(0));
  };
  ASSERT_OK(ClassPackets(nl, "ckc0", 1, 3));
  auto [b2, b3] = counts();
  ASSERT_OK_AND_ASSIGN(ChildResult in_group, RunIn(cg, sender));
  ASSERT_TRUE(in_group.status.Exited(0)) << in_group.Describe();
  auto [m2, m3] = counts();
  ASSERT_OK_AND_ASSIGN(ChildResult outside, RunInChild(sender));
  ASSERT_TRUE(outside.status.Exited(0)) << outside.Describe();
  auto [a2, a3] = counts();
  std::string seen = fmt::format(
      "class 1:3 packets {} -> {} -> {}, class 1:2 {} -> {} -> {} (group sent {}, "
      "outsider sent {})",
      b3, m3, a3, b2, m2, a2, in_group.reports.at(0), outside.reports.at(0));
  // Signed differences (Grew): a counter that went backwards must fail, not wrap into a pass.
  EXPECT_GE(Grew(b3, m3), 20) << "the group's packets (classid 1:3) are classified into 1:3: "
                              << seen;
  EXPECT_LT(Grew(m3, a3), 5) << "packets from outside the group are not: " << seen;
  EXPECT_GE(Grew(m2, a2), 20) << "packets from outside the group go to the default class 1:2: "
                              << seen;
}

// Outgoing UDP datagrams to `port` with skb->priority `priority` seen by `sock` (a packet socket
// with PrioritySocketFilter) until it stays quiet for 200 ms.
int CountOutgoing(int sock, uint16_t port) {
  int n = 0;
  char buf[2048];
  for (;;) {
    pollfd p{sock, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) return n;
    sockaddr_ll from{};
    socklen_t len = sizeof from;
    ssize_t got = ::recvfrom(sock, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
    if (got < 28 || from.sll_pkttype != PACKET_OUTGOING) continue;
    size_t ihl = size_t(buf[0] & 0x0f) * 4;
    if (buf[9] != IPPROTO_UDP || got < ssize_t(ihl + 4)) continue;
    uint16_t dport = uint16_t((uint8_t(buf[ihl + 2]) << 8) | uint8_t(buf[ihl + 3]));
    if (dport == port) ++n;
  }
}

TEST(NetPrio, Ifpriomap) {
  // Source: D "Net_cls and net_prio cgroup" ("net_prio will assign traffic to a priority");
  // cgroup-v1/net_prio.rst net_prio.ifpriomap. The kernel looks the interface up by name in the
  // initial namespace only, so the group's map names the host's lo (an entry of this group
  // alone); the priority is read back by a socket filter on a packet socket, nothing is
  // configured on the host's devices.
  // Negative control: an ifpriomap entry for an interface other than lo keeps priority 0: fails.
  CKC_BEHAVIOUR("netprio.ifpriomap", "D",
                "v1: net_prio.ifpriomap gives the group's outgoing packets on an interface the "
                "priority configured for that interface");
  CKC_REQUIRE(Root(), ServedByCgroupVersion("net_prio", 1, "v2-has-no-net_prio"),
              Config("CONFIG_CGROUP_NET_PRIO"), Config("CONFIG_PACKET"));
  constexpr uint32_t kPriority = 13;
  ASSERT_OK_AND_ASSIGN(Cgroup cg, Cgroup::Create(Cgroups(), "netprio", {"net_prio"}));
  ASSERT_OK(cg.Write("net_prio", "net_prio.ifpriomap", fmt::format("lo {}", kPriority)));
  ASSERT_OK_AND_ASSIGN(UniqueFd filter, PrioritySocketFilter(kPriority));
  UniqueFd sniff(::socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, htons(ETH_P_ALL)));
  int sniff_errno = errno;
  CKC_ASSERT_SETUP(sniff.valid()) << "socket(AF_PACKET): " << ErrnoName(sniff_errno);
  int prog = filter.get();
  ASSERT_THAT(::setsockopt(sniff.get(), SOL_SOCKET, SO_ATTACH_BPF, &prog, sizeof prog),
              SyscallSucceeds());
  sockaddr_ll bind_to{};
  bind_to.sll_family = AF_PACKET;
  bind_to.sll_protocol = htons(ETH_P_ALL);
  bind_to.sll_ifindex = static_cast<int>(::if_nametoindex("lo"));
  ASSERT_THAT(::bind(sniff.get(), reinterpret_cast<sockaddr*>(&bind_to), sizeof bind_to),
              SyscallSucceeds());
  // A port nobody listens on: 20 datagrams from inside the group, 20 from outside.
  uint16_t port = uint16_t(40000 + ::getpid() % 20000);
  auto sender = [port](Channel& ch) {
    return Report(ch, std::to_string(SendUdp("127.0.0.1", port, 20)), 0);
  };
  ASSERT_OK_AND_ASSIGN(ChildResult in_group, RunIn(cg, sender));
  ASSERT_TRUE(in_group.status.Exited(0)) << in_group.Describe();
  int seen_group = CountOutgoing(sniff.get(), port);
  ASSERT_OK_AND_ASSIGN(ChildResult outside, RunInChild(sender));
  ASSERT_TRUE(outside.status.Exited(0)) << outside.Describe();
  int seen_outside = CountOutgoing(sniff.get(), port);
  EXPECT_GE(seen_group, 20) << "datagrams with priority " << kPriority << " from the group (sent "
                            << in_group.reports.at(0) << ")";
  EXPECT_EQ(seen_outside, 0) << "datagrams from outside the group keep priority 0 (sent "
                             << outside.reports.at(0) << ")";
}

}  // namespace
}  // namespace ckc::test

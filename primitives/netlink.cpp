#include "netlink.h"

#include <arpa/inet.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/route.h>
#include <netlink/socket.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <fmt/format.h>

#include <thread>
#include <utility>

namespace ckc {

// --- errors ------------------------------------------------------------------------------

namespace {

// libnl folds kernel errnos into NLE_* codes (nl_syserr2nlerr) and offers no way back; this is
// the errno each code stands for where the folding is one-to-one enough to be useful.
int NlErrToErrno(int nl_err) {
  switch (nl_err < 0 ? -nl_err : nl_err) {
    case NLE_INTR:
      return EINTR;
    case NLE_BAD_SOCK:
      return EBADF;
    case NLE_AGAIN:
      return EAGAIN;
    case NLE_NOMEM:
      return ENOMEM;
    case NLE_EXIST:
      return EEXIST;
    case NLE_INVAL:
      return EINVAL;
    case NLE_RANGE:
      return ERANGE;
    case NLE_MSGSIZE:
      return EMSGSIZE;
    case NLE_OPNOTSUPP:
      return EOPNOTSUPP;
    case NLE_AF_NOSUPPORT:
      return EAFNOSUPPORT;
    case NLE_OBJ_NOTFOUND:
      return ENOENT;
    case NLE_NOADDR:
      return EADDRNOTAVAIL;
    case NLE_BUSY:
      return EBUSY;
    case NLE_PROTO_MISMATCH:
      return EPROTONOSUPPORT;
    case NLE_NOACCESS:
      return EACCES;
    case NLE_PERM:
      return EPERM;
    case NLE_NODEV:
      return ENODEV;
    default:
      return 0;
  }
}

// Owning wrappers for the libnl objects used here (each has its own put/free function).
template <typename T, void (*Free)(T*)>
struct NlPtr {
  T* p = nullptr;
  NlPtr() = default;
  explicit NlPtr(T* ptr) : p(ptr) {}
  NlPtr(NlPtr&& other) noexcept : p(std::exchange(other.p, nullptr)) {}
  NlPtr& operator=(NlPtr&&) = delete;
  NlPtr(const NlPtr&) = delete;
  NlPtr& operator=(const NlPtr&) = delete;
  ~NlPtr() {
    if (p) Free(p);
  }
  T* get() const { return p; }
  T** out() { return &p; }
};
using LinkPtr = NlPtr<rtnl_link, rtnl_link_put>;
using AddrPtr = NlPtr<nl_addr, nl_addr_put>;
using CachePtr = NlPtr<nl_cache, nl_cache_free>;
using RtnlAddrPtr = NlPtr<rtnl_addr, rtnl_addr_put>;
using RoutePtr = NlPtr<rtnl_route, rtnl_route_put>;

std::string AddrString(nl_addr* addr) {
  if (!addr) return {};
  char buf[128];
  return nl_addr2str(addr, buf, sizeof(buf));
}

}  // namespace

Error NlError(int nl_err, std::string_view operation, std::string_view argument) {
  return Error{NlErrToErrno(nl_err), std::string(operation), std::string(argument),
               fmt::format("{} (nl error {})", nl_geterror(nl_err), nl_err < 0 ? -nl_err : nl_err)};
}

Result<bool> PollUntil(const std::function<Result<bool>()>& probe,
                       std::chrono::milliseconds timeout, std::chrono::milliseconds interval) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto done = probe();
    if (done && *done) return true;
    if (std::chrono::steady_clock::now() >= deadline) {
      if (!done) return Propagate(done.error());
      return false;
    }
    std::this_thread::sleep_for(interval);
  }
}

// --- Netns -------------------------------------------------------------------------------

Result<Netns> Netns::Create() {
  // unshare(CLONE_NEWNET) moves only the calling thread; doing it on a throw-away thread leaves
  // every thread of the caller where it was, and the ns fd keeps the namespace alive.
  Result<UniqueFd> fd = Failure("netns", "create", "helper thread did not run");
  std::thread([&fd] {
    if (::unshare(CLONE_NEWNET) != 0) {
      fd = ErrnoError("unshare", "CLONE_NEWNET");
      return;
    }
    fd = OpenFile("/proc/thread-self/ns/net", O_RDONLY);
  }).join();
  if (!fd) return Propagate(fd.error());
  Netns ns;
  ns.fd_ = std::move(*fd);
  return ns;
}

Result<Netns> Netns::CreateWithProcess() {
  // The namespace exists as soon as clone3 returns, so no hand-shake is needed before opening it.
  CKC_TRY(child, Spawn({.flags = CLONE_NEWNET}, [] {
            for (;;) ::pause();
            return 0;
          }));
  CKC_TRY(fd, OpenNs(child.pid(), NsType::kNet));
  Netns ns;
  ns.fd_ = std::move(fd);
  ns.holder_ = std::move(child);
  return ns;
}

Result<Netns> Netns::OfPid(pid_t pid) {
  CKC_TRY(fd, OpenNs(pid, NsType::kNet));
  Netns ns;
  ns.fd_ = std::move(fd);
  return ns;
}

Result<NsId> Netns::Id() const { return NsIdOfPath(fmt::format("/proc/self/fd/{}", fd_.get())); }

Status Netns::Run(const std::function<Status()>& fn) const {
  return InNamespace(fd_.get(), NsType::kNet, fn);
}

void Netns::Reset() {
  holder_ = Child();
  fd_.Reset();
}

// --- LinkInfo / RouteInfo ----------------------------------------------------------------

bool LinkInfo::up() const { return flags & IFF_UP; }
// IFF_LOWER_UP lives in linux/if.h, which clashes with net/if.h.
constexpr unsigned kIffLowerUp = 1U << 16;

bool LinkInfo::lower_up() const { return flags & kIffLowerUp; }
bool LinkInfo::loopback() const { return flags & IFF_LOOPBACK; }

std::string LinkInfo::Describe() const {
  std::string out = fmt::format("{}#{} {}", name, ifindex, up() ? "up" : "down");
  if (lower_up()) out += ",lower_up";
  if (loopback()) out += ",loopback";
  if (!kind.empty()) out += "," + kind;
  return out;
}

std::string RouteInfo::Describe() const {
  std::string out = dst;
  if (!gateway.empty()) out += " via " + gateway;
  if (oif) out += fmt::format(" dev#{}", oif);
  return out + fmt::format(" table {}", table);
}

// --- NetlinkSocket -----------------------------------------------------------------------

NetlinkSocket::NetlinkSocket(NetlinkSocket&& other) noexcept
    : sock_(std::exchange(other.sock_, nullptr)) {}

NetlinkSocket& NetlinkSocket::operator=(NetlinkSocket&& other) noexcept {
  if (this != &other) {
    if (sock_) nl_socket_free(sock_);
    sock_ = std::exchange(other.sock_, nullptr);
  }
  return *this;
}

NetlinkSocket::~NetlinkSocket() {
  if (sock_) nl_socket_free(sock_);  // closes the fd too
}

Result<NetlinkSocket> NetlinkSocket::Open() {
  nl_sock* sock = nl_socket_alloc();
  if (!sock) return Failure("nl_socket_alloc", "", "out of memory");
  NetlinkSocket owner(sock);
  if (int rc = nl_connect(sock, NETLINK_ROUTE); rc < 0) {
    return std::unexpected(NlError(rc, "nl_connect", "NETLINK_ROUTE"));
  }
  return owner;
}

Result<NetlinkSocket> NetlinkSocket::OpenIn(int ns_fd) {
  // The socket's namespace is fixed when it is created: enter, create, leave.
  Result<NetlinkSocket> sock = Failure("netlink", "open", "not run");
  CKC_CHECK(InNamespace(ns_fd, NsType::kNet, [&]() -> Status {
    sock = Open();
    if (!sock) return Propagate(sock.error());
    return {};
  }));
  return sock;
}

Result<std::vector<LinkInfo>> NetlinkSocket::Links() const {
  CachePtr cache;
  if (int rc = rtnl_link_alloc_cache(sock_, AF_UNSPEC, cache.out()); rc < 0) {
    return std::unexpected(NlError(rc, "rtnl_link_alloc_cache", "links"));
  }
  std::vector<LinkInfo> out;
  for (nl_object* o = nl_cache_get_first(cache.get()); o; o = nl_cache_get_next(o)) {
    auto* link = reinterpret_cast<rtnl_link*>(o);
    const char* name = rtnl_link_get_name(link);
    const char* kind = rtnl_link_get_type(link);
    out.push_back({name ? name : "", rtnl_link_get_ifindex(link), rtnl_link_get_flags(link),
                   kind ? kind : ""});
  }
  return out;
}

Result<std::optional<LinkInfo>> NetlinkSocket::FindLink(std::string_view name) const {
  CKC_TRY(links, Links());
  for (auto& l : links) {
    if (l.name == name) return std::optional<LinkInfo>(std::move(l));
  }
  return std::optional<LinkInfo>();
}

Result<std::vector<RouteInfo>> NetlinkSocket::Routes(int family) const {
  CachePtr cache;
  if (int rc = rtnl_route_alloc_cache(sock_, family, 0, cache.out()); rc < 0) {
    return std::unexpected(NlError(rc, "rtnl_route_alloc_cache", "routes"));
  }
  std::vector<RouteInfo> out;
  for (nl_object* o = nl_cache_get_first(cache.get()); o; o = nl_cache_get_next(o)) {
    auto* route = reinterpret_cast<rtnl_route*>(o);
    RouteInfo info;
    info.family = rtnl_route_get_family(route);
    info.table = rtnl_route_get_table(route);
    nl_addr* dst = rtnl_route_get_dst(route);
    info.dst = (!dst || nl_addr_get_prefixlen(dst) == 0) ? "default" : AddrString(dst);
    if (rtnl_route_get_nnexthops(route) > 0) {
      rtnl_nexthop* nh = rtnl_route_nexthop_n(route, 0);
      info.gateway = AddrString(rtnl_route_nh_get_gateway(nh));
      info.oif = rtnl_route_nh_get_ifindex(nh);
    }
    out.push_back(std::move(info));
  }
  return out;
}

namespace {

// The kernel's view of link `name` (with its ifindex), as the `orig` of a change request.
Result<rtnl_link*> GetLink(nl_sock* sock, std::string_view name) {
  rtnl_link* link = nullptr;
  std::string n(name);
  if (int rc = rtnl_link_get_kernel(sock, 0, n.c_str(), &link); rc < 0) {
    return std::unexpected(NlError(rc, "rtnl_link_get_kernel", n));
  }
  return link;
}

// Applies `edit` to an empty change object and sends it as a change of link `name`.
Status ChangeLink(nl_sock* sock, std::string_view name, std::string_view operation,
                  const std::function<void(rtnl_link*)>& edit) {
  CKC_TRY(orig_raw, GetLink(sock, name));
  LinkPtr orig(orig_raw);
  LinkPtr change(rtnl_link_alloc());
  if (!change.get()) return Failure("rtnl_link_alloc", name, "out of memory");
  edit(change.get());
  if (int rc = rtnl_link_change(sock, orig.get(), change.get(), 0); rc < 0) {
    return std::unexpected(NlError(rc, operation, name));
  }
  return {};
}

Result<int> IfIndex(nl_sock* sock, std::string_view name) {
  CKC_TRY(link_raw, GetLink(sock, name));
  LinkPtr link(link_raw);
  return rtnl_link_get_ifindex(link.get());
}

Result<AddrPtr> ParseAddr(const std::string& text, int family) {
  AddrPtr addr;
  if (int rc = nl_addr_parse(text.c_str(), family, addr.out()); rc < 0) {
    return std::unexpected(NlError(rc, "nl_addr_parse", text));
  }
  return addr;
}

// The namespace a socket lives in (SIOCGSKNS), so an owner can reach it later.
Result<UniqueFd> SocketNetns(nl_sock* sock) {
  int fd = ::ioctl(nl_socket_get_fd(sock), SIOCGSKNS);
  if (fd < 0) return ErrnoError("ioctl", "SIOCGSKNS");
  return UniqueFd(fd);
}

}  // namespace

Result<VethPair> NetlinkSocket::CreateVeth(const VethSpec& spec) const {
  CKC_TRY(netns, SocketNetns(sock_));
  rtnl_link* link = rtnl_link_veth_alloc();
  if (!link) return Failure("rtnl_link_veth_alloc", spec.name, "out of memory");
  rtnl_link_set_name(link, spec.name.c_str());
  // The peer travels inside IFLA_LINKINFO/VETH_INFO_PEER with its own IFLA_NET_NS_* attribute,
  // so the kernel creates it directly in the target namespace.
  rtnl_link* peer = rtnl_link_veth_get_peer(link);
  rtnl_link_set_name(peer, spec.peer.c_str());
  if (spec.peer_netns_fd >= 0) rtnl_link_set_ns_fd(peer, spec.peer_netns_fd);
  if (spec.peer_netns_pid > 0) rtnl_link_set_ns_pid(peer, spec.peer_netns_pid);
  int rc = rtnl_link_add(sock_, link, NLM_F_CREATE | NLM_F_EXCL);
  rtnl_link_put(peer);  // rtnl_link_veth_get_peer took a reference
  rtnl_link_veth_release(link);
  if (rc < 0) {
    return std::unexpected(
        NlError(rc, "rtnl_link_add", fmt::format("veth {}/{}", spec.name, spec.peer)));
  }
  return VethPair(std::move(netns), spec.name, spec.peer);
}

Status NetlinkSocket::DeleteLink(std::string_view name) const {
  LinkPtr link(rtnl_link_alloc());
  if (!link.get()) return Failure("rtnl_link_alloc", name, "out of memory");
  rtnl_link_set_name(link.get(), std::string(name).c_str());
  if (int rc = rtnl_link_delete(sock_, link.get()); rc < 0) {
    return std::unexpected(NlError(rc, "rtnl_link_delete", name));
  }
  return {};
}

Status NetlinkSocket::MoveToPid(std::string_view name, pid_t pid) const {
  return ChangeLink(sock_, name, fmt::format("rtnl_link_change(netns pid {})", pid),
                    [pid](rtnl_link* c) { rtnl_link_set_ns_pid(c, pid); });
}

Status NetlinkSocket::MoveToFd(std::string_view name, int ns_fd) const {
  return ChangeLink(sock_, name, "rtnl_link_change(netns fd)",
                    [ns_fd](rtnl_link* c) { rtnl_link_set_ns_fd(c, ns_fd); });
}

Status NetlinkSocket::Rename(std::string_view name, std::string_view new_name) const {
  std::string n(new_name);
  return ChangeLink(sock_, name, fmt::format("rtnl_link_change(rename to {})", n),
                    [&n](rtnl_link* c) { rtnl_link_set_name(c, n.c_str()); });
}

Status NetlinkSocket::SetUp(std::string_view name, bool up) const {
  return ChangeLink(sock_, name, up ? "rtnl_link_change(up)" : "rtnl_link_change(down)",
                    [up](rtnl_link* c) {
                      if (up) {
                        rtnl_link_set_flags(c, IFF_UP);
                      } else {
                        rtnl_link_unset_flags(c, IFF_UP);
                      }
                    });
}

Status NetlinkSocket::AddAddress(std::string_view dev, std::string_view address, int prefix) const {
  CKC_TRY(ifindex, IfIndex(sock_, dev));
  std::string text = fmt::format("{}/{}", address, prefix);
  CKC_TRY(local, ParseAddr(text, AF_INET));
  RtnlAddrPtr addr(rtnl_addr_alloc());
  if (!addr.get()) return Failure("rtnl_addr_alloc", text, "out of memory");
  rtnl_addr_set_ifindex(addr.get(), ifindex);
  if (int rc = rtnl_addr_set_local(addr.get(), local.get()); rc < 0) {
    return std::unexpected(NlError(rc, "rtnl_addr_set_local", text));
  }
  rtnl_addr_set_prefixlen(addr.get(), prefix);
  if (int rc = rtnl_addr_add(sock_, addr.get(), 0); rc < 0) {
    return std::unexpected(NlError(rc, "rtnl_addr_add", fmt::format("{} dev {}", text, dev)));
  }
  return {};
}

Status NetlinkSocket::AddRoute(const RouteSpec& spec) const {
  std::string what =
      fmt::format("{}{}{}", spec.dst, spec.gateway.empty() ? "" : " via " + spec.gateway,
                  spec.dev.empty() ? "" : " dev " + spec.dev);
  RoutePtr route(rtnl_route_alloc());
  if (!route.get()) return Failure("rtnl_route_alloc", what, "out of memory");
  rtnl_route_set_family(route.get(), AF_INET);
  rtnl_route_set_table(route.get(), RT_TABLE_MAIN);
  CKC_TRY(dst, ParseAddr(spec.dst, AF_INET));
  if (int rc = rtnl_route_set_dst(route.get(), dst.get()); rc < 0) {
    return std::unexpected(NlError(rc, "rtnl_route_set_dst", what));
  }
  rtnl_nexthop* nh = rtnl_route_nh_alloc();
  if (!nh) return Failure("rtnl_route_nh_alloc", what, "out of memory");
  rtnl_route_add_nexthop(route.get(), nh);  // the route owns the next hop from here on
  if (!spec.gateway.empty()) {
    CKC_TRY(gw, ParseAddr(spec.gateway, AF_INET));
    rtnl_route_nh_set_gateway(nh, gw.get());
  }
  if (!spec.dev.empty()) {
    CKC_TRY(ifindex, IfIndex(sock_, spec.dev));
    rtnl_route_nh_set_ifindex(nh, ifindex);
  }
  // Without an explicit scope, a route without a gateway is link-scoped, one with a gateway
  // universe-scoped, as `ip route add` does.
  rtnl_route_set_scope(route.get(), rtnl_route_guess_scope(route.get()));
  if (int rc = rtnl_route_add(sock_, route.get(), NLM_F_EXCL); rc < 0) {
    return std::unexpected(NlError(rc, "rtnl_route_add", what));
  }
  return {};
}

// --- VethPair ----------------------------------------------------------------------------

VethPair& VethPair::operator=(VethPair&& other) noexcept {
  if (this != &other) {
    Delete();
    netns_ = std::move(other.netns_);
    name_ = std::move(other.name_);
    peer_ = std::move(other.peer_);
  }
  return *this;
}

void VethPair::Release() { netns_.Reset(); }

void VethPair::Delete() {
  if (!netns_.valid()) return;
  // Best effort: the pair may be gone already (its other namespace was destroyed).
  if (auto sock = NetlinkSocket::OpenIn(netns_.get())) (void)sock->DeleteLink(name_);
  netns_.Reset();
}

}  // namespace ckc

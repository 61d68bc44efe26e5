// Network namespaces and rtnetlink through libnl-route-3: scratch net namespaces, veth pairs,
// links, addresses and routes of a given namespace.
//
//   CKC_TRY(a, Netns::Create());                   // held alive by an open ns fd
//   CKC_TRY(b, Netns::CreateWithProcess());        // ... and by a parked child (b.pid())
//   CKC_TRY(nl, NetlinkSocket::OpenIn(a));         // bound to `a` for its whole life
//   CKC_TRY(veth, nl.CreateVeth({.name = "ckc0", .peer = "ckc1"}));   // deleted at scope end
//   CKC_CHECK(nl.MoveToPid("ckc1", b.pid()));      // IFLA_NET_NS_PID
//   CKC_TRY(nlb, NetlinkSocket::OpenIn(b));
//   CKC_CHECK(nlb.Rename("ckc1", "eth0"));  CKC_CHECK(nlb.SetUp("eth0"));
//   CKC_CHECK(nlb.AddAddress("eth0", "10.200.0.2", 24));
//   CKC_CHECK(nlb.AddRoute({.gateway = "10.200.0.1"}));             // default via
//
// Kernel rules the owners follow: a netlink socket (any socket) stays in the namespace it was
// created in and holds a reference to it, so a namespace is destroyed only once its last process,
// ns fd, bind mount and socket are gone; that destruction runs asynchronously (cleanup_net), so
// its effects (a veth end vanishing) are polled for. Errors carry libnl's text in Error::detail
// ("Object not found (nl error 12)") and the errno equivalent in Error::err where there is one.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fd.h"
#include "namespaces.h"
#include "process.h"
#include "result.h"

struct nl_sock;

namespace ckc {

// An owned net namespace. Create() makes a new one on a short-lived helper thread (so the
// caller's thread never leaves its namespace) and keeps it alive by its ns fd; CreateWithProcess()
// also parks a child in it, for interfaces that name a namespace by PID.
class Netns {
 public:
  Netns() = default;
  Netns(Netns&&) noexcept = default;
  Netns& operator=(Netns&&) noexcept = default;
  ~Netns() = default;  // members: the child is killed and reaped, then the fd closes

  [[nodiscard]] static Result<Netns> Create();
  [[nodiscard]] static Result<Netns> CreateWithProcess();
  // The namespace process `pid` is in (a reference to it, not a new one).
  [[nodiscard]] static Result<Netns> OfPid(pid_t pid);

  [[nodiscard]] int fd() const { return fd_.get(); }
  [[nodiscard]] bool valid() const { return fd_.valid(); }
  // The parked process, or -1 for a namespace held by its fd only.
  [[nodiscard]] pid_t pid() const { return holder_.pid(); }
  [[nodiscard]] Result<NsId> Id() const;
  // Runs `fn` with the calling thread inside this namespace (sockets made there stay there).
  [[nodiscard]] Status Run(const std::function<Status()>& fn) const;
  // Drops this handle's references (parked process, fd): the namespace goes away once nothing
  // else (sockets, other fds, processes) holds it.
  void Reset();

 private:
  UniqueFd fd_;
  Child holder_;  // declared after fd_: destroyed (killed) first
};

// One interface as RTM_GETLINK reports it.
struct LinkInfo {
  std::string name;
  int ifindex = 0;
  unsigned flags = 0;  // IFF_*
  std::string kind;    // IFLA_INFO_KIND: "veth"; empty for lo and plain devices
  [[nodiscard]] bool up() const;
  [[nodiscard]] bool lower_up() const;
  [[nodiscard]] bool loopback() const;
  // "lo#1 up,lower_up,loopback" for failure messages.
  [[nodiscard]] std::string Describe() const;
};

// One IPv4/IPv6 route as RTM_GETROUTE reports it.
struct RouteInfo {
  int family = 0;
  unsigned table = 0;                          // RT_TABLE_MAIN (254), RT_TABLE_LOCAL (255)...
  std::string dst;                             // "default" or "10.1.0.0/24"
  std::string gateway;                         // first next hop's gateway, empty if none
  int oif = 0;                                 // first next hop's interface
  [[nodiscard]] std::string Describe() const;  // "10.1.0.0/24 via 10.0.0.1 dev#3 table 254"
};

struct RouteSpec {
  std::string dst = "default";  // "default" or "a.b.c.d/len"
  std::string gateway{};        // next hop address, or empty for a direct route
  std::string dev{};            // output interface; required without a gateway
};

class VethPair;

struct VethSpec {
  std::string name{};         // this end, created in the socket's namespace
  std::string peer{};         // the other end
  int peer_netns_fd = -1;     // create the peer directly in this namespace (IFLA_NET_NS_FD)...
  pid_t peer_netns_pid = -1;  // ... or in the namespace of this process (IFLA_NET_NS_PID)
};

// An rtnetlink socket bound to one net namespace for its whole life.
class NetlinkSocket {
 public:
  NetlinkSocket() = default;
  NetlinkSocket(NetlinkSocket&& other) noexcept;
  NetlinkSocket& operator=(NetlinkSocket&& other) noexcept;
  NetlinkSocket(const NetlinkSocket&) = delete;
  NetlinkSocket& operator=(const NetlinkSocket&) = delete;
  ~NetlinkSocket();

  // A socket in the calling thread's namespace.
  [[nodiscard]] static Result<NetlinkSocket> Open();
  // A socket in the namespace open at `ns_fd` (the calling thread enters it only to create it).
  [[nodiscard]] static Result<NetlinkSocket> OpenIn(int ns_fd);
  [[nodiscard]] static Result<NetlinkSocket> OpenIn(const Netns& ns) { return OpenIn(ns.fd()); }

  [[nodiscard]] nl_sock* get() const { return sock_; }

  [[nodiscard]] Result<std::vector<LinkInfo>> Links() const;
  // The link called `name`, or nullopt if this namespace has none.
  [[nodiscard]] Result<std::optional<LinkInfo>> FindLink(std::string_view name) const;
  [[nodiscard]] Result<std::vector<RouteInfo>> Routes(int family = AF_INET) const;

  // A veth pair; the returned owner deletes it (both ends) unless released.
  [[nodiscard]] Result<VethPair> CreateVeth(const VethSpec& spec) const;
  [[nodiscard]] Status DeleteLink(std::string_view name) const;
  [[nodiscard]] Status MoveToPid(std::string_view name, pid_t pid) const;  // IFLA_NET_NS_PID
  [[nodiscard]] Status MoveToFd(std::string_view name, int ns_fd) const;   // IFLA_NET_NS_FD
  [[nodiscard]] Status Rename(std::string_view name, std::string_view new_name) const;
  [[nodiscard]] Status SetUp(std::string_view name, bool up = true) const;
  // IPv4 `address`/`prefix` on `dev` ("10.200.0.1", 24).
  [[nodiscard]] Status AddAddress(std::string_view dev, std::string_view address, int prefix) const;
  [[nodiscard]] Status AddRoute(const RouteSpec& spec) const;

 private:
  explicit NetlinkSocket(nl_sock* sock) : sock_(sock) {}
  nl_sock* sock_ = nullptr;
};

// Owns a veth pair through the end made in `netns` (a reference it holds, so deletion works
// after the creator's socket is gone). Deleting either end deletes both.
class VethPair {
 public:
  VethPair() = default;
  VethPair(UniqueFd netns, std::string name, std::string peer)
      : netns_(std::move(netns)), name_(std::move(name)), peer_(std::move(peer)) {}
  VethPair(VethPair&&) noexcept = default;
  VethPair& operator=(VethPair&& other) noexcept;
  VethPair(const VethPair&) = delete;
  VethPair& operator=(const VethPair&) = delete;
  ~VethPair() { Delete(); }

  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] const std::string& peer() const { return peer_; }
  // Gives up ownership: the pair stays (and the namespace reference is dropped).
  void Release();
  // Deletes the pair now (best effort: a pair already gone is not an error).
  void Delete();

 private:
  UniqueFd netns_;  // the namespace `name_` was created in
  std::string name_;
  std::string peer_;
};

// An Error from a libnl return code (negative NLE_*): errno equivalent, libnl's text.
[[nodiscard]] Error NlError(int nl_err, std::string_view operation, std::string_view argument);

// Polls `probe` until it returns true or `timeout` passes (for asynchronous kernel effects such
// as namespace teardown). Returns the last probe error if it never succeeded because of one.
[[nodiscard]] Result<bool> PollUntil(
    const std::function<Result<bool>()>& probe, std::chrono::milliseconds timeout,
    std::chrono::milliseconds interval = std::chrono::milliseconds(20));

}  // namespace ckc

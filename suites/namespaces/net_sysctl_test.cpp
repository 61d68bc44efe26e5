// Per-network-namespace sysctls (Documentation/networking/ip-sysctl.rst; network_namespaces(7):
// each namespace has its own /proc/sys/net view). /proc/sys/net shows the sysctls of the net
// namespace of the thread reading it, so each row runs in a child that is in a fresh namespace
// of its own (N1, owned through a user namespace when not root) and makes a second fresh one
// (N2) before changing anything. Values are written only in those namespaces, through a helper
// that refuses to write in the host's namespace; the host's values are read before and after
// and compared, never written.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include <filesystem>
#include <sstream>
#include <string>

#include "capabilities.h"
#include "ckc_test.h"
#include "inet.h"
#include "namespaces.h"
#include "netlink.h"
#include "sandbox.h"
#include "userns.h"

namespace ckc::test {
namespace {

// A child in a new net namespace, owning it through a user namespace of its own when not root.
Sandbox FreshNetns() {
  Sandbox box;
  box.Namespaces(CLONE_NEWNET).UserNsUnlessRoot();
  return box;
}

std::string SysctlPath(std::string_view dotted) {
  std::string path = "/proc/sys/";
  for (char c : dotted) path.push_back(c == '.' ? '/' : c);
  return path;
}

// A sysctl as read by the calling thread, whitespace runs made one space ("1\t0" -> "1 0"), or
// "!ERRNO".
std::string Sysctl(std::string_view dotted) {
  auto v = ReadSysctl(dotted);
  if (!v) return "!" + ErrnoName(v.error().err);
  std::istringstream words(*v);
  std::string out, w;
  while (words >> w) out += (out.empty() ? "" : " ") + w;
  return out;
}

// Writes a sysctl of the calling thread's net namespace; refuses when that is `host` (the
// namespace the test process runs in), so no row can change the host's values by mistake.
Status WriteOwnNetSysctl(const NsId& host, std::string_view dotted, std::string_view value) {
  CKC_TRY(here, NsIdOfPath("/proc/thread-self/ns/net"));
  if (here == host) {
    return Failure("write sysctl", dotted, "refused: this thread is in the host's net namespace");
  }
  return WriteFile(SysctlPath(dotted), value);
}

std::string Outcome(const Status& st) {
  return st ? "ok" : "!" + ErrnoName(st.error().err) + " " + st.error().Message();
}

template <typename T>
std::string BindOutcome(const Result<T>& r) {
  return r ? "ok" : ErrnoName(r.error().err);
}

// The host's net namespace, taken in the test process.
Result<NsId> HostNetns() { return NsIdOf(::getpid(), NsType::kNet); }

Requirement SysctlExists(std::string dotted) {
  return {[=]() -> std::optional<std::string> {
    if (std::filesystem::exists(SysctlPath(dotted))) return std::nullopt;
    return fmt::format("kernel:{} (no {})", dotted, SysctlPath(dotted));
  }};
}

// How the calling process sees host gid `host_gid`: mapped through /proc/self/gid_map, or the
// overflow gid when its user namespace does not map it (user_namespaces(7)). The kernel shows
// ping_group_range so: the default range is host gids 1..0, read from inside a user namespace.
std::string GidAsSeen(uint32_t host_gid) {
  std::istringstream lines(ReadFile("/proc/self/gid_map").value_or(""));
  uint32_t inside = 0, outside = 0, count = 0;
  while (lines >> inside >> outside >> count) {
    if (host_gid >= outside && host_gid - outside < count) {
      return std::to_string(inside + (host_gid - outside));
    }
  }
  return std::to_string(OverflowGid());
}

#define ASSERT_CHILD_DONE(r) ASSERT_TRUE((r).status.Exited(0)) << (r).Describe()

TEST(NetNamespace, UnprivilegedPortStartPerNamespace) {
  // Source: ip-sysctl.rst ip_unprivileged_port_start ("the first unprivileged port in the
  // network namespace. Privileged ports require root or CAP_NET_BIND_SERVICE in order to bind
  // to them"; default 1024), per network namespace since Linux 4.11.
  // Negative control: N2, left at 1024, must refuse port 80 without the capability (EACCES,
  // checked) while it still allows 1024; a child that kept CAP_NET_BIND_SERVICE would bind
  // anywhere (checked that it is gone).
  CKC_BEHAVIOUR("net.unpriv-port-start", "K",
                "net.ipv4.ip_unprivileged_port_start belongs to each network namespace: lowered "
                "to 0 in one, a process lacking CAP_NET_BIND_SERVICE can bind port 80 there, "
                "while a fresh namespace still starts at 1024 and refuses it");
  CKC_REQUIRE(NamespaceType(NsType::kNet), NamespaceQuota(CLONE_NEWNET), RootOrUserns(),
              SysctlExists("net.ipv4.ip_unprivileged_port_start"));
  constexpr const char* kName = "net.ipv4.ip_unprivileged_port_start";
  ASSERT_OK_AND_ASSIGN(NsId host, HostNetns());
  std::string host_before = Sysctl(kName);
  ASSERT_OK_AND_ASSIGN(ChildResult r, RunInSandbox(FreshNetns(), [&](Channel& ch) {
                         Observe(ch, "fresh-n1", Sysctl(kName));
                         CKC_CHILD_TRY(n2, Netns::Create());
                         Observe(ch, "write-n1", Outcome(WriteOwnNetSysctl(host, kName, "0")));
                         Observe(ch, "set-n1", Sysctl(kName));
                         CKC_CHILD_CHECK(DropCapabilities({CAP_NET_BIND_SERVICE}));
                         auto cap = HasCapability(CAP_NET_BIND_SERVICE, CapSet::kEffective);
                         Observe(ch, "cap", cap && !*cap ? "dropped" : "still there");
                         Observe(ch, "bind80-n1", BindOutcome(TcpListen("0.0.0.0", 80)));
                         CKC_CHILD_CHECK(n2.Run([&]() -> Status {
                           Observe(ch, "fresh-n2", Sysctl(kName));
                           Observe(ch, "bind80-n2", BindOutcome(TcpListen("0.0.0.0", 80)));
                           Observe(ch, "bind1024-n2", BindOutcome(TcpListen("0.0.0.0", 1024)));
                           return {};
                         }));
                         return 0;
                       }));
  ASSERT_CHILD_DONE(r);
  Observations seen = Parse(r);
  CKC_ASSERT_SETUP(seen["cap"] == "dropped")
      << "CAP_NET_BIND_SERVICE dropped before the binds; it is " << seen["cap"];
  EXPECT_EQ(seen["fresh-n1"], "1024") << "a new namespace starts at the default";
  EXPECT_EQ(seen["write-n1"], "ok");
  EXPECT_EQ(seen["set-n1"], "0");
  EXPECT_EQ(seen["bind80-n1"], "ok") << "port 80 without CAP_NET_BIND_SERVICE where the start is 0";
  EXPECT_EQ(seen["fresh-n2"], "1024") << "another namespace keeps its own value";
  EXPECT_EQ(seen["bind80-n2"], "EACCES") << "and refuses port 80 without the capability";
  EXPECT_EQ(seen["bind1024-n2"], "ok") << "control: ports from 1024 up need no capability there";
  EXPECT_EQ(Sysctl(kName), host_before) << "the host's value is untouched";
}

TEST(NetNamespace, PingGroupRangePerNamespace) {
  // Source: ip-sysctl.rst ping_group_range ("Restrict ICMP_PROTO datagram sockets to users in
  // the group range. The default is "1 0", meaning, that nobody (not even root) may create
  // ping sockets"); icmp(7) / socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP) fails with EACCES for
  // a caller whose groups are all outside the range. Per network namespace.
  // Negative control: with the range at its default the same socket is refused (checked before
  // the write, and in N2 after it); a range written into the wrong namespace would show in N2.
  CKC_BEHAVIOUR("net.ping-group-range", "K",
                "net.ipv4.ping_group_range belongs to each network namespace and decides who may "
                "open an ICMP echo datagram socket: a caller whose group is inside the range gets "
                "one, a caller outside it gets EACCES");
  CKC_REQUIRE(NamespaceType(NsType::kNet), NamespaceQuota(CLONE_NEWNET), RootOrUserns(),
              SysctlExists("net.ipv4.ping_group_range"));
  constexpr const char* kName = "net.ipv4.ping_group_range";
  ASSERT_OK_AND_ASSIGN(NsId host, HostNetns());
  std::string host_before = Sysctl(kName);
  auto ping_socket = [] {
    UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_ICMP));
    return fd ? std::string("ok") : ErrnoName(errno);
  };
  ASSERT_OK_AND_ASSIGN(ChildResult r, RunInSandbox(FreshNetns(), [&](Channel& ch) {
                         gid_t gid = ::getegid();
                         Observe(ch, "gid", std::to_string(gid));
                         Observe(ch, "default", GidAsSeen(1) + " " + GidAsSeen(0));
                         Observe(ch, "fresh-n1", Sysctl(kName));
                         CKC_CHILD_TRY(n2, Netns::Create());
                         Observe(ch, "ping-default", ping_socket());
                         std::string range = fmt::format("{} {}", gid, gid);
                         Observe(ch, "write-n1", Outcome(WriteOwnNetSysctl(host, kName, range)));
                         Observe(ch, "set-n1", Sysctl(kName));
                         Observe(ch, "ping-in-range", ping_socket());
                         CKC_CHILD_CHECK(n2.Run([&]() -> Status {
                           Observe(ch, "fresh-n2", Sysctl(kName));
                           Observe(ch, "ping-n2", ping_socket());
                           return {};
                         }));
                         return 0;
                       }));
  ASSERT_CHILD_DONE(r);
  Observations seen = Parse(r);
  EXPECT_EQ(seen["fresh-n1"], seen["default"])
      << "a new namespace starts with the empty default range 1 0 (as this caller sees it)";
  EXPECT_EQ(seen["ping-default"], "EACCES") << "outside the range the socket is refused";
  EXPECT_EQ(seen["write-n1"], "ok");
  EXPECT_EQ(seen["set-n1"], fmt::format("{} {}", seen["gid"], seen["gid"]));
  EXPECT_EQ(seen["ping-in-range"], "ok") << "a group inside the range may open the socket";
  EXPECT_EQ(seen["fresh-n2"], seen["default"]) << "another namespace keeps its own range";
  EXPECT_EQ(seen["ping-n2"], "EACCES") << "and refuses the same caller";
  EXPECT_EQ(Sysctl(kName), host_before) << "the host's value is untouched";
}

// The ip_forward a new namespace starts with, per ip-sysctl.rst devconf_inherit_init_net: IPv4
// conf values come from init_net (0, 1), from the creating namespace (3; here the host's, as
// both namespaces are made before anything is written), or are reset to the default 0 (2).
std::string ExpectedFreshForward(const std::string& inherit, const std::string& host_forward) {
  return inherit == "2" ? "0" : host_forward;
}

TEST(NetNamespace, SysctlsStartFreshAndStayInside) {
  // Source: ip-sysctl.rst ip_default_ttl ("Default: 64"), ip_forward, and
  // devconf_inherit_init_net ("for IPv4 we inherit all current settings from init_net"
  // unless set to 2 (defaults) or 3 (the creating namespace)); network_namespaces(7).
  // ip_default_ttl starts at its default in every new namespace; ip_forward, an IPv4 conf
  // value, starts from what devconf_inherit_init_net says, which is the host's value by default.
  // Negative control: values written in N1 must not show in N2 nor on the host (checked); with
  // devconf_inherit_init_net=2 a host that forwards still gives new namespaces 0 (computed).
  CKC_BEHAVIOUR("net.sysctls-per-ns", "K",
                "per-namespace sysctls such as ip_default_ttl and ip_forward begin a new network "
                "namespace at their documented starting values, and changing them there changes "
                "neither another namespace nor the host");
  CKC_REQUIRE(NamespaceType(NsType::kNet), NamespaceQuota(CLONE_NEWNET), RootOrUserns());
  ASSERT_OK_AND_ASSIGN(NsId host, HostNetns());
  std::string forward_before = Sysctl("net.ipv4.ip_forward");
  std::string ttl_before = Sysctl("net.ipv4.ip_default_ttl");
  std::string inherit = Sysctl("net.core.devconf_inherit_init_net");  // "!ENOENT" before 5.1
  ASSERT_OK_AND_ASSIGN(ChildResult r, RunInSandbox(FreshNetns(), [&](Channel& ch) {
                         Observe(ch, "forward-n1", Sysctl("net.ipv4.ip_forward"));
                         Observe(ch, "ttl-n1", Sysctl("net.ipv4.ip_default_ttl"));
                         CKC_CHILD_TRY(n2, Netns::Create());
                         std::string flipped = Sysctl("net.ipv4.ip_forward") == "1" ? "0" : "1";
                         Observe(ch, "flipped", flipped);
                         Observe(ch, "write-forward",
                                 Outcome(WriteOwnNetSysctl(host, "net.ipv4.ip_forward", flipped)));
                         Observe(ch, "write-ttl",
                                 Outcome(WriteOwnNetSysctl(host, "net.ipv4.ip_default_ttl", "99")));
                         Observe(ch, "forward-n1-set", Sysctl("net.ipv4.ip_forward"));
                         Observe(ch, "ttl-n1-set", Sysctl("net.ipv4.ip_default_ttl"));
                         CKC_CHILD_CHECK(n2.Run([&]() -> Status {
                           Observe(ch, "forward-n2", Sysctl("net.ipv4.ip_forward"));
                           Observe(ch, "ttl-n2", Sysctl("net.ipv4.ip_default_ttl"));
                           return {};
                         }));
                         return 0;
                       }));
  ASSERT_CHILD_DONE(r);
  Observations seen = Parse(r);
  std::string fresh_forward = ExpectedFreshForward(inherit, forward_before);
  RecordProperty("devconf_inherit_init_net", inherit);
  EXPECT_EQ(seen["ttl-n1"], "64") << "ip_default_ttl starts at its default";
  EXPECT_EQ(seen["forward-n1"], fresh_forward)
      << "ip_forward starts as devconf_inherit_init_net=" << inherit << " says (host "
      << forward_before << ")";
  EXPECT_EQ(seen["write-forward"], "ok");
  EXPECT_EQ(seen["write-ttl"], "ok");
  EXPECT_EQ(seen["forward-n1-set"], seen["flipped"]);
  EXPECT_EQ(seen["ttl-n1-set"], "99");
  EXPECT_EQ(seen["ttl-n2"], "64") << "another namespace keeps its own ip_default_ttl";
  EXPECT_EQ(seen["forward-n2"], fresh_forward) << "and its own ip_forward";
  EXPECT_EQ(Sysctl("net.ipv4.ip_forward"), forward_before) << "the host's ip_forward is untouched";
  EXPECT_EQ(Sysctl("net.ipv4.ip_default_ttl"), ttl_before) << "and its ip_default_ttl";
}

}  // namespace
}  // namespace ckc::test

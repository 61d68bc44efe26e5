// Net namespace rows (net.*): network_namespaces(7), veth(4) and the seed's walk-through (D,
// "Net namespace overview" to "Other ways to use network namespaces").
//
// Every row runs its body in a child that is in a scratch net namespace of its own (the "host"
// side of every veth pair lives there, never in the host's initial namespace); as non-root the
// child is also in a user namespace that owns everything it creates, so the rows run
// unprivileged. The child reports what it saw ("key: value") and exits 0, or reports
// "setup: ..." and exits kSetupBroke; the parent asserts on the reports.
#include <arpa/inet.h>
#include <sched.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <vector>

#include "ckc_test.h"
#include "inet.h"
#include "netlink.h"
#include "sandbox.h"

namespace ckc::test {
namespace {

using ::testing::AllOf;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr int kSetupBroke = 2;
constexpr auto kNetTimeout = std::chrono::seconds(5);
// Namespace teardown runs on a workqueue (cleanup_net); on a loaded TCG guest it takes seconds.
constexpr auto kTeardownTimeout = std::chrono::seconds(30);

// In a child: reports a broken setup step and returns the exit code that says so.
int SetupBroke(Channel& ch, const Error& e) {
  return Report(ch, "setup: " + e.Message(), kSetupBroke);
}

// In a net child (with a Channel `ch` in scope): unwrap a setup step's Result or report it
// broken and return kSetupBroke.
#define NET_TRY(var, expr)                                        \
  auto CKC_CONCAT_(net_r_, __LINE__) = (expr);                    \
  if (!CKC_CONCAT_(net_r_, __LINE__))                             \
    return SetupBroke(ch, CKC_CONCAT_(net_r_, __LINE__).error()); \
  auto var = std::move(*CKC_CONCAT_(net_r_, __LINE__))
#define NET_CHECK(expr)                                              \
  do {                                                               \
    if (auto st_ = (expr); !st_) return SetupBroke(ch, st_.error()); \
  } while (0)

void Tell(Channel& ch, std::string_view key, std::string_view value) {
  (void)ch.Send(fmt::format("{}: {}", key, value));
}

// "ok", the errno name of a system-call failure ("ENETUNREACH"), or the whole message.
template <typename T>
std::string Outcome(const Result<T>& r) {
  if (r) return "ok";
  return r.error().err != 0 ? ErrnoName(r.error().err) : r.error().Message();
}

// Reports every link of the socket's namespace under `key`.
Status TellLinks(Channel& ch, const NetlinkSocket& nl, std::string_view key) {
  CKC_TRY(links, nl.Links());
  for (const auto& l : links) Tell(ch, key, l.Describe());
  return {};
}

// Values the child reported under `key`, in order.
std::vector<std::string> SeenAll(const ChildResult& r, std::string_view key) {
  std::vector<std::string> out;
  std::string prefix = fmt::format("{}: ", key);
  for (const auto& m : r.reports) {
    if (m.starts_with(prefix)) out.push_back(m.substr(prefix.size()));
  }
  return out;
}

// The value the child reported under `key` (the first), or "<not reported>".
std::string Seen(const ChildResult& r, std::string_view key) {
  auto all = SeenAll(r, key);
  return all.empty() ? "<not reported>" : all.front();
}

// A child in a new net namespace (plus `extra` namespaces), owning them through a user namespace
// of its own when not root.
Sandbox NetBox(uint64_t extra = 0) {
  Sandbox box;
  box.Namespaces(CLONE_NEWNET | extra).UserNsUnlessRoot();
  return box;
}

// The child ran its observation to the end (exit 0). A broken setup step (kSetupBroke, with the
// step in its reports) never gets here: RunInSandbox returns it as an error, so the row is broken.
#define ASSERT_CHILD_FINISHED(r) \
  ASSERT_TRUE((r).status.Exited(0)) << "the child died while observing: " << (r).Describe()

// Loaded tunnel modules (sit, ipip, ip_gre, ip6_tunnel...) add their fallback devices (sit0,
// tunl0, gre0, ip6tnl0) to every new namespace unless net.core.fb_tunnels_only_for_init_net is set.
constexpr std::string_view kFallbackTunnelHint =
    " (extra sit0/tunl0/gre0/ip6tnl0 links are fallback devices of loaded tunnel modules; "
    "net.core.fb_tunnels_only_for_init_net=1 keeps them out of new namespaces)";

std::string Names(const std::vector<std::string>& described) {
  std::string out;
  for (const auto& d : described) out += (out.empty() ? "" : ", ") + d;
  return out.empty() ? "<none>" : out;
}

// Whether a reported link ("name#index ...") is the link called `name`.
auto IsLink(std::string_view name) {
  return [prefix = fmt::format("{}#", name)](const std::string& described) {
    return described.starts_with(prefix);
  };
}

// --- fresh namespaces ----------------------------------------------------------------------

TEST(NetNamespace, FreshOnlyLoDown) {
  // Source: D "Creating a network namespace" (`ip link ls` shows only lo, state DOWN);
  // network_namespaces(7).
  CKC_BEHAVIOUR("net.fresh-only-lo-down", "D",
                "a newly created net namespace holds a single interface, the loopback lo, and that "
                "interface is down");
  CKC_REQUIRE(NamespaceType(NsType::kNet), NamespaceQuota(CLONE_NEWNET), RootOrUserns());
  ASSERT_OK_AND_ASSIGN(ChildResult r, RunInSandbox(NetBox(), [](Channel& ch) {
                         NET_TRY(nl, NetlinkSocket::Open());
                         NET_CHECK(TellLinks(ch, nl, "link"));
                         return 0;
                       }));
  ASSERT_CHILD_FINISHED(r);
  EXPECT_THAT(SeenAll(r, "link"),
              ElementsAre(AllOf(StartsWith("lo#"), HasSubstr(" down"), HasSubstr("loopback"))))
      << "expected exactly one link, lo, DOWN; saw " << Names(SeenAll(r, "link"))
      << kFallbackTunnelHint;
}

TEST(NetNamespace, FreshUnreachable) {
  // Source: D "Creating a network namespace" (`ping 1.1` -> "connect: Network is unreachable"):
  // without routes the lookup fails before any packet is built.
  CKC_BEHAVIOUR("net.fresh-unreachable", "D",
                "from a new net namespace, a TCP connect() to an IPv4 address outside it fails "
                "with ENETUNREACH, as there is no route");
  CKC_REQUIRE(NamespaceType(NsType::kNet), NamespaceQuota(CLONE_NEWNET), RootOrUserns());
  ASSERT_OK_AND_ASSIGN(ChildResult r, RunInSandbox(NetBox(), [](Channel& ch) {
                         Tell(ch, "tcp 1.1.1.1:80",
                              Outcome(TcpConnect("1.1.1.1", 80, kNetTimeout)));
                         return 0;
                       }));
  ASSERT_CHILD_FINISHED(r);
  EXPECT_EQ(Seen(r, "tcp 1.1.1.1:80"), "ENETUNREACH")
      << "expected connect() to an outside address to fail with ENETUNREACH; saw " << r.Describe();
}

TEST(NetNamespace, LoUp) {
  // Source: D "Basic network configuration" (`ip link set lo up`); 127.0.0.1 is added to lo when
  // it comes up (net/ipv4/devinet.c, inetdev_event NETDEV_UP).
  CKC_BEHAVIOUR("net.lo-up", "D",
                "once lo is brought up inside a new net namespace, TCP connections over 127.0.0.1 "
                "work there, where before they were unreachable");
  CKC_REQUIRE(NamespaceType(NsType::kNet), NamespaceQuota(CLONE_NEWNET), RootOrUserns());
  ASSERT_OK_AND_ASSIGN(ChildResult r, RunInSandbox(NetBox(), [](Channel& ch) {
                         Tell(ch, "before", Outcome(TcpConnect("127.0.0.1", 1, kNetTimeout)));
                         NET_TRY(nl, NetlinkSocket::Open());
                         NET_CHECK(nl.SetUp("lo"));
                         NET_TRY(listener, TcpListen("127.0.0.1"));
                         NET_TRY(port, LocalPort(listener.get()));
                         auto client = TcpConnect("127.0.0.1", port, kNetTimeout);
                         Tell(ch, "connect", Outcome(client));
                         if (!client) return 0;
                         NET_TRY(server, Accept(listener.get(), kNetTimeout));
                         Tell(ch, "client->server",
                              Outcome(Exchange(client->get(), server.get(), "ping", kNetTimeout)));
                         Tell(ch, "server->client",
                              Outcome(Exchange(server.get(), client->get(), "pong", kNetTimeout)));
                         return 0;
                       }));
  ASSERT_CHILD_FINISHED(r);
  EXPECT_EQ(Seen(r, "before"), "ENETUNREACH") << "expected 127.0.0.1 unreachable while lo is down";
  EXPECT_EQ(Seen(r, "connect"), "ok") << "expected TCP connect over 127.0.0.1 after lo up";
  EXPECT_EQ(Seen(r, "client->server"), "ok");
  EXPECT_EQ(Seen(r, "server->client"), "ok");
}

// --- veth pairs ----------------------------------------------------------------------------

// In a child: moves one end of a new pair into `target` (by the PID of its parked process, or by
// its fd), renames it eth0 and sets it up there, reporting each step and the links `target` then
// holds under `key`.
int MoveRenameUp(Channel& ch, const NetlinkSocket& here, const Netns& target, std::string_view key,
                 std::string_view host_end, std::string_view far_end, bool by_pid) {
  NET_TRY(pair, here.CreateVeth({.name = std::string(host_end), .peer = std::string(far_end)}));
  Status moved =
      by_pid ? here.MoveToPid(far_end, target.pid()) : here.MoveToFd(far_end, target.fd());
  Tell(ch, fmt::format("{} move", key), Outcome(moved));
  NET_TRY(left, here.FindLink(far_end));
  Tell(ch, fmt::format("{} left behind", key), left ? left->Describe() : "none");
  NET_TRY(there, NetlinkSocket::OpenIn(target));
  Tell(ch, fmt::format("{} rename", key), Outcome(there.Rename(far_end, "eth0")));
  Tell(ch, fmt::format("{} up", key), Outcome(there.SetUp("eth0")));
  NET_CHECK(TellLinks(ch, there, fmt::format("{} link", key)));
  return 0;
}

TEST(NetNamespace, VethPair) {
  // Source: D "Creating the veth interfaces", "Moving the veth interface" (`ip link set in_netns
  // netns PID`), "Basic network configuration" (`ip link set in_netns name eth0 up`); ip-link(8)
  // `netns { PID | NETNSFILE }` = IFLA_NET_NS_PID / IFLA_NET_NS_FD.
  CKC_BEHAVIOUR("net.veth-pair", "D",
                "one end of a new veth pair can be moved into another net namespace, by the PID of "
                "a process there or by a namespace fd, then renamed eth0 and brought up");
  CKC_REQUIRE(NamespaceType(NsType::kNet), NamespaceQuota(CLONE_NEWNET), Config("CONFIG_VETH"),
              RootOrUserns());
  ASSERT_OK_AND_ASSIGN(
      ChildResult r, RunInSandbox(NetBox(), [](Channel& ch) {
        NET_TRY(by_pid, Netns::CreateWithProcess());
        NET_TRY(by_fd, Netns::Create());
        NET_TRY(here, NetlinkSocket::Open());
        if (int rc = MoveRenameUp(ch, here, by_pid, "pid", "ckc-h0", "ckc-c0", true); rc != 0)
          return rc;
        if (int rc = MoveRenameUp(ch, here, by_fd, "fd", "ckc-h1", "ckc-c1", false); rc != 0)
          return rc;
        return 0;
      }));
  ASSERT_CHILD_FINISHED(r);
  for (std::string how : {"pid", "fd"}) {
    EXPECT_EQ(Seen(r, how + " move"), "ok") << "moving the far end by " << how;
    EXPECT_EQ(Seen(r, how + " left behind"), "none")
        << "the moved end stayed in the source namespace";
    EXPECT_EQ(Seen(r, how + " rename"), "ok")
        << "renaming the moved end (moved by " << how << ") to eth0";
    EXPECT_EQ(Seen(r, how + " up"), "ok") << "setting eth0 up (moved by " << how << ")";
    EXPECT_THAT(SeenAll(r, how + " link"),
                Contains(AllOf(StartsWith("eth0#"), HasSubstr(" up"), HasSubstr("veth"))))
        << "expected eth0 (veth, up) in the namespace reached by " << how << "; saw "
        << Names(SeenAll(r, how + " link"));
  }
}

// The seed's sequence: a pair made on the host side (the child's own namespace), its far end
// moved into `far` by the PID of the process there, renamed eth0 and set up; lo up on both sides;
// both ends addressed in 10.200.0.0/24; 10.201.0.1/32 on the host side's lo; a default route in
// `far` via the host side.
Status WireUp(const NetlinkSocket& here, const Netns& far, VethPair& pair) {
  CKC_TRY(made, here.CreateVeth({.name = "ckc-host", .peer = "ckc-netns"}));
  pair = std::move(made);
  CKC_CHECK(here.MoveToPid("ckc-netns", far.pid()));
  CKC_TRY(there, NetlinkSocket::OpenIn(far));
  CKC_CHECK(there.Rename("ckc-netns", "eth0"));
  CKC_CHECK(here.SetUp("lo"));
  CKC_CHECK(here.AddAddress("lo", "10.201.0.1", 32));
  CKC_CHECK(here.AddAddress("ckc-host", "10.200.0.1", 24));
  CKC_CHECK(here.SetUp("ckc-host"));
  CKC_CHECK(there.SetUp("lo"));
  CKC_CHECK(there.AddAddress("eth0", "10.200.0.2", 24));
  CKC_CHECK(there.SetUp("eth0"));
  return there.AddRoute({.gateway = "10.200.0.1"});
}

TEST(NetNamespace, VethConnectivity) {
  // Source: D "Allocating IP address and default route" (`ip addr add dev eth0`, `ip route add
  // default via`), "Validating the setup" (ping); veth(4): packets sent on one end arrive on the
  // other. 10.201.0.1 sits on the host side's lo, so only the default route reaches it.
  CKC_BEHAVIOUR("net.veth-connectivity", "D",
                "two net namespaces joined by a veth pair, with both ends in one subnet and a "
                "default route on one side, exchange TCP and ICMP traffic");
  CKC_REQUIRE(NamespaceType(NsType::kNet), NamespaceQuota(CLONE_NEWNET), Config("CONFIG_VETH"),
              RootOrUserns());
  ASSERT_OK_AND_ASSIGN(ChildResult r, RunInSandbox(NetBox(), [](Channel& ch) {
                         NET_TRY(far, Netns::CreateWithProcess());
                         NET_TRY(here, NetlinkSocket::Open());
                         VethPair pair;
                         NET_CHECK(WireUp(here, far, pair));
                         NET_TRY(listener, TcpListen("10.200.0.1"));
                         NET_TRY(port, LocalPort(listener.get()));
                         Result<UniqueFd> client = Failure("connect", "", "not run");
                         NET_CHECK(far.Run([&]() -> Status {
                           client = TcpConnect("10.200.0.1", port, kNetTimeout);
                           Tell(ch, "tcp far->host", Outcome(client));
                           Tell(ch, "icmp far->host", Outcome(Ping("10.200.0.1", kNetTimeout)));
                           Tell(ch, "icmp far->default-route",
                                Outcome(Ping("10.201.0.1", kNetTimeout)));
                           return {};
                         }));
                         Tell(ch, "icmp host->far", Outcome(Ping("10.200.0.2", kNetTimeout)));
                         if (!client) return 0;
                         NET_TRY(server, Accept(listener.get(), kNetTimeout));
                         Tell(ch, "tcp far->host data",
                              Outcome(Exchange(client->get(), server.get(), "ping", kNetTimeout)));
                         Tell(ch, "tcp host->far data",
                              Outcome(Exchange(server.get(), client->get(), "pong", kNetTimeout)));
                         NET_TRY(far_nl, NetlinkSocket::OpenIn(far));
                         NET_TRY(routes, far_nl.Routes());
                         for (const auto& rt : routes) Tell(ch, "far route", rt.Describe());
                         return 0;
                       }));
  ASSERT_CHILD_FINISHED(r);
  EXPECT_THAT(SeenAll(r, "far route"), Contains(StartsWith("default via 10.200.0.1")))
      << "expected the default route in the far namespace; saw " << Names(SeenAll(r, "far route"));
  for (const char* key : {"tcp far->host", "tcp far->host data", "tcp host->far data",
                          "icmp far->host", "icmp host->far", "icmp far->default-route"}) {
    EXPECT_EQ(Seen(r, key), "ok") << key << ": expected it to pass over the veth pair";
  }
}

TEST(NetNamespace, VethTeardown) {
  // Source: D "Cleaning up network namespaces" (the namespace's interfaces are destroyed; "when a
  // veth interface is destroyed, it also destroys the other half of the pair");
  // network_namespaces(7): virtual devices are destroyed with their namespace
  // (default_device_exit_batch -> dellink). The far end is set up as in the seed (moved by PID,
  // renamed eth0, addressed, routed) and the namespace ends with its only process.
  CKC_BEHAVIOUR("net.veth-teardown", "D",
                "destroying the net namespace that holds one end of a veth pair removes that end "
                "and also its peer on the other side");
  CKC_REQUIRE(NamespaceType(NsType::kNet), NamespaceQuota(CLONE_NEWNET), Config("CONFIG_VETH"),
              RootOrUserns());
  ASSERT_OK_AND_ASSIGN(
      ChildResult r,
      RunInSandbox(
          NetBox(),
          [](Channel& ch) {
            NET_TRY(far, Netns::CreateWithProcess());
            NET_TRY(here, NetlinkSocket::Open());
            VethPair pair;
            NET_CHECK(WireUp(here, far, pair));
            {
              NET_TRY(there, NetlinkSocket::OpenIn(far));  // a socket holds its namespace: scoped
              NET_CHECK(TellLinks(ch, there, "far link before"));
            }
            NET_TRY(before, here.FindLink("ckc-host"));
            Tell(ch, "host end before", before ? before->Describe() : "none");
            // Its only process killed and its fd closed, nothing holds the namespace any more: it
            // is destroyed (asynchronously, cleanup_net).
            far.Reset();
            NET_TRY(gone, PollUntil(
                              [&]() -> Result<bool> {
                                CKC_TRY(link, here.FindLink("ckc-host"));
                                return !link.has_value();
                              },
                              kTeardownTimeout));
            Tell(ch, "host end gone", gone ? "yes" : "no");
            NET_CHECK(TellLinks(ch, here, "host link after"));
            pair.Release();
            return 0;
          },
          std::chrono::seconds(60)));
  ASSERT_CHILD_FINISHED(r);
  CKC_ASSERT_SETUP(std::ranges::any_of(SeenAll(r, "far link before"), IsLink("eth0")))
      << "the far end eth0 in the far namespace; saw " << Names(SeenAll(r, "far link before"));
  CKC_ASSERT_SETUP(IsLink("ckc-host")(Seen(r, "host end before")))
      << "the host end ckc-host; saw " << Seen(r, "host end before");
  EXPECT_EQ(Seen(r, "host end gone"), "yes")
      << "expected the host end to vanish within " << kTeardownTimeout.count()
      << "s of the far namespace's destruction; links after: "
      << Names(SeenAll(r, "host link after"));
  EXPECT_THAT(SeenAll(r, "host link after"), Not(Contains(StartsWith("eth0#"))))
      << "the far end must be destroyed, not moved back";
}

TEST(NetNamespace, VethDeletePeer) {
  // Source: D "Cleaning up network namespaces" ("When a veth interface is destroyed, it also
  // destroys the other half of the pair"); veth(4). veth_dellink queues both ends in one
  // RTM_DELLINK, so the peer is gone when the request returns.
  CKC_BEHAVIOUR("net.veth-delete-peer", "D",
                "removing one end of a veth pair takes the other end away with it, even across net "
                "namespaces");
  CKC_REQUIRE(NamespaceType(NsType::kNet), NamespaceQuota(CLONE_NEWNET), Config("CONFIG_VETH"),
              RootOrUserns());
  ASSERT_OK_AND_ASSIGN(
      ChildResult r, RunInSandbox(NetBox(), [](Channel& ch) {
        NET_TRY(far, Netns::Create());
        NET_TRY(here, NetlinkSocket::Open());
        NET_TRY(pair,
                here.CreateVeth({.name = "ckc-host", .peer = "eth0", .peer_netns_fd = far.fd()}));
        NET_TRY(there, NetlinkSocket::OpenIn(far));
        NET_TRY(before, here.FindLink("ckc-host"));
        Tell(ch, "host end before", before ? before->Describe() : "none");
        Tell(ch, "delete far end", Outcome(there.DeleteLink("eth0")));
        NET_TRY(after, here.FindLink("ckc-host"));
        Tell(ch, "host end after", after ? after->Describe() : "none");
        NET_TRY(far_after, there.FindLink("eth0"));
        Tell(ch, "far end after", far_after ? far_after->Describe() : "none");
        pair.Release();
        return 0;
      }));
  ASSERT_CHILD_FINISHED(r);
  CKC_ASSERT_SETUP(IsLink("ckc-host")(Seen(r, "host end before")))
      << "the host end ckc-host; saw " << Seen(r, "host end before");
  EXPECT_EQ(Seen(r, "delete far end"), "ok");
  EXPECT_EQ(Seen(r, "far end after"), "none");
  EXPECT_EQ(Seen(r, "host end after"), "none")
      << "expected deleting eth0 to delete its peer ckc-host";
}

// --- the runtimes' network modes --------------------------------------------------------------

TEST(NetNamespace, ModeNone) {
  // Source: D "Other ways to use network namespaces" (`--net none` gives an empty namespace,
  // "effectively isolating it completely from the network"). Even with lo up, nothing outside
  // the namespace has a route: TCP connects and UDP route lookups fail with ENETUNREACH.
  CKC_BEHAVIOUR("net.mode-none", "D",
                "a net namespace with nothing but lo, even with lo up, has no route to any outside "
                "address: TCP and UDP connects fail with ENETUNREACH");
  CKC_REQUIRE(NamespaceType(NsType::kNet), NamespaceQuota(CLONE_NEWNET), RootOrUserns());
  ASSERT_OK_AND_ASSIGN(
      ChildResult r, RunInSandbox(NetBox(), [](Channel& ch) {
        NET_TRY(nl, NetlinkSocket::Open());
        NET_CHECK(nl.SetUp("lo"));
        NET_CHECK(TellLinks(ch, nl, "link"));
        for (const char* to : {"1.1.1.1", "10.0.0.1", "172.16.0.1", "192.168.0.1"}) {
          Tell(ch, fmt::format("tcp {}", to), Outcome(TcpConnect(to, 80, kNetTimeout)));
          Tell(ch, fmt::format("udp {}", to), Outcome(UdpConnect(to, 53)));
        }
        return 0;
      }));
  ASSERT_CHILD_FINISHED(r);
  EXPECT_THAT(SeenAll(r, "link"), ElementsAre(StartsWith("lo#")))
      << "expected only lo; saw " << Names(SeenAll(r, "link")) << kFallbackTunnelHint;
  for (const char* to : {"1.1.1.1", "10.0.0.1", "172.16.0.1", "192.168.0.1"}) {
    EXPECT_EQ(Seen(r, fmt::format("tcp {}", to)), "ENETUNREACH") << "TCP connect to " << to;
    EXPECT_EQ(Seen(r, fmt::format("udp {}", to)), "ENETUNREACH")
        << "UDP connect (route lookup) to " << to;
  }
}

// This process's view of its links, as a sorted list of "name#index" (flags change under the
// host's feet: carrier, promiscuity).
Result<std::vector<std::string>> LinkNames(const NetlinkSocket& nl) {
  CKC_TRY(links, nl.Links());
  std::vector<std::string> out;
  for (const auto& l : links) out.push_back(fmt::format("{}#{}", l.name, l.ifindex));
  std::ranges::sort(out);
  return out;
}

TEST(NetNamespace, ModeHost) {
  // Source: D "Other ways to use network namespaces" (`--net host`: "no network namespace is
  // created; the container uses the host network stack"); clone(2): without CLONE_NEWNET the
  // child shares its parent's namespace. Read-only: both sides only list links.
  CKC_BEHAVIOUR("net.mode-host", "D",
                "a child created without CLONE_NEWNET stays in its parent's net namespace and "
                "lists exactly the same interfaces");
  CKC_REQUIRE(NamespaceType(NsType::kNet));
  ASSERT_OK_AND_ASSIGN(NetlinkSocket nl, NetlinkSocket::Open());
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> before, LinkNames(nl));
  ASSERT_OK_AND_ASSIGN(NsId mine, NsIdOf(::getpid(), NsType::kNet));
  ASSERT_OK_AND_ASSIGN(ChildResult r, RunInChild([](Channel& ch) {
                         NET_TRY(child_nl, NetlinkSocket::Open());
                         NET_TRY(names, LinkNames(child_nl));
                         for (const auto& n : names) Tell(ch, "link", n);
                         NET_TRY(id, NsIdOf(::getpid(), NsType::kNet));
                         Tell(ch, "netns", NsIdString(id));
                         return 0;
                       }));
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> after, LinkNames(nl));
  ASSERT_CHILD_FINISHED(r);
  CKC_ASSERT_SETUP(before == after)
      << "the parent's links unchanged while the child looked (something else changed them); "
      << "before " << Names(before) << "; after " << Names(after);
  EXPECT_EQ(Seen(r, "netns"), NsIdString(mine))
      << "expected the child in its parent's net namespace";
  EXPECT_EQ(SeenAll(r, "link"), before) << "expected the child to see exactly its parent's links";
}

// The first process of net.mode-container: its own namespace, lo up, a listener on 127.0.0.1
// whose port it hands over on `handshake`, links and namespace reported on `ch` under
// "first ...", then one echo.
int FirstContainer(Channel& handshake, Channel& ch) {
  NET_TRY(nl, NetlinkSocket::Open());
  NET_CHECK(nl.SetUp("lo"));
  NET_TRY(listener, TcpListen("127.0.0.1"));
  NET_TRY(port, LocalPort(listener.get()));
  NET_TRY(names, LinkNames(nl));
  for (const auto& n : names) Tell(ch, "first link", n);
  NET_TRY(id, NsIdOf(::getpid(), NsType::kNet));
  Tell(ch, "first netns", NsIdString(id));
  NET_CHECK(handshake.Send(fmt::format("{}", port)));
  Tell(ch, "first echo", Outcome(EchoOnce(listener.get(), kNetTimeout)));
  return 0;
}

// The second process: setns(2) into the first's namespace, then the same questions.
int SecondContainer(Channel& ch, pid_t first, uint16_t port) {
  NET_TRY(ns, OpenNs(first, NsType::kNet));
  Status joined = Setns(ns.get(), NsType::kNet);
  Tell(ch, "second setns", Outcome(joined));
  if (!joined) return 0;
  NET_TRY(nl, NetlinkSocket::Open());
  NET_TRY(names, LinkNames(nl));
  for (const auto& n : names) Tell(ch, "second link", n);
  NET_TRY(id, NsIdOf(::getpid(), NsType::kNet));
  Tell(ch, "second netns", NsIdString(id));
  auto client = TcpConnect("127.0.0.1", port, kNetTimeout);
  Tell(ch, "second connect", Outcome(client));
  if (client) {
    Tell(ch, "second echo", Outcome(Exchange(client->get(), client->get(), "ping", kNetTimeout)));
  }
  return 0;
}

TEST(NetNamespace, ModeContainer) {
  // Source: D "Other ways to use network namespaces" (`--net container`: "reuse the network
  // namespace of another container ... both containers share the same interfaces, routes");
  // setns(2) with CLONE_NEWNET.
  CKC_BEHAVIOUR("net.mode-container", "D",
                "a process that joins another's net namespace with setns() sees the same "
                "interfaces and reaches that process's listener on 127.0.0.1");
  CKC_REQUIRE(NamespaceType(NsType::kNet), NamespaceQuota(CLONE_NEWNET), RootOrUserns());
  ASSERT_OK_AND_ASSIGN(
      ChildResult r, RunInSandbox(NetBox(), [](Channel& ch) {
        NET_TRY(hs, Channel::Create());
        NET_TRY(first, Spawn({.flags = CLONE_NEWNET}, [&] {
                  hs.BecomeChild();
                  return FirstContainer(hs, ch);
                }));
        hs.BecomeParent();
        NET_TRY(port_text, hs.Recv(kNetTimeout));  // EOF if the first one's setup broke
        auto port = static_cast<uint16_t>(std::strtoul(port_text.c_str(), nullptr, 10));
        NET_TRY(second, Spawn({}, [&] { return SecondContainer(ch, first.pid(), port); }));
        NET_TRY(second_status, second.Wait(std::chrono::seconds(20)));
        NET_TRY(first_status, first.Wait(std::chrono::seconds(20)));
        Tell(ch, "first exit", first_status.Describe());
        Tell(ch, "second exit", second_status.Describe());
        return (first_status.Exited(0) && second_status.Exited(0)) ? 0 : kSetupBroke;
      }));
  ASSERT_CHILD_FINISHED(r);
  EXPECT_EQ(Seen(r, "second setns"), "ok") << "setns(CLONE_NEWNET) into the first's namespace";
  EXPECT_EQ(Seen(r, "second netns"), Seen(r, "first netns"))
      << "expected setns to join the first's namespace";
  EXPECT_EQ(SeenAll(r, "second link"), SeenAll(r, "first link")) << "expected the same interfaces";
  EXPECT_EQ(Seen(r, "second connect"), "ok") << "expected the first's 127.0.0.1 listener reachable";
  EXPECT_EQ(Seen(r, "second echo"), "ok");
  EXPECT_EQ(Seen(r, "first echo"), "ok");
}

// --- isolation -------------------------------------------------------------------------------

TEST(NetNamespace, SocketsIsolated) {
  // Source: D "Net namespace overview" (each namespace has its own sockets); network_namespaces(7).
  // Both namespaces have lo up, so the refusal comes from the missing listener, not a missing
  // route. Abstract unix socket names are scoped the same way (unix(7): "the abstract socket
  // namespace"; net/unix/af_unix.c matches names only within the socket's net namespace).
  CKC_BEHAVIOUR("net.sockets-isolated", "D",
                "a listener on 127.0.0.1 (or on an abstract unix name) in one net namespace cannot "
                "be reached from a different net namespace");
  CKC_REQUIRE(NamespaceType(NsType::kNet), NamespaceQuota(CLONE_NEWNET), RootOrUserns());
  ASSERT_OK_AND_ASSIGN(
      ChildResult r, RunInSandbox(NetBox(), [](Channel& ch) {
        NET_TRY(other, Netns::Create());
        NET_TRY(here, NetlinkSocket::Open());
        NET_CHECK(here.SetUp("lo"));
        {
          NET_TRY(there, NetlinkSocket::OpenIn(other));
          NET_CHECK(there.SetUp("lo"));
        }
        NET_TRY(listener, TcpListen("127.0.0.1"));
        NET_TRY(port, LocalPort(listener.get()));
        std::string name = fmt::format("ckc-net-{}", ::getpid());
        NET_TRY(unix_listener, UnixListenAbstract(name));
        NET_CHECK(other.Run([&]() -> Status {
          Tell(ch, "tcp other namespace", Outcome(TcpConnect("127.0.0.1", port, kNetTimeout)));
          Tell(ch, "unix other namespace", Outcome(UnixConnectAbstract(name)));
          return {};
        }));
        Tell(ch, "tcp same namespace", Outcome(TcpConnect("127.0.0.1", port, kNetTimeout)));
        Tell(ch, "unix same namespace", Outcome(UnixConnectAbstract(name)));
        return 0;
      }));
  ASSERT_CHILD_FINISHED(r);
  EXPECT_EQ(Seen(r, "tcp same namespace"), "ok")
      << "control: the TCP listener must be reachable where it lives";
  EXPECT_EQ(Seen(r, "unix same namespace"), "ok")
      << "control: the abstract unix listener must be reachable where it lives";
  EXPECT_EQ(Seen(r, "tcp other namespace"), "ECONNREFUSED")
      << "expected 127.0.0.1 in another namespace to refuse (no listener there)";
  EXPECT_EQ(Seen(r, "unix other namespace"), "ECONNREFUSED")
      << "expected the abstract unix name to be unknown in another namespace";
}

TEST(NetNamespace, RoutesIsolated) {
  // Source: D "Net namespace overview" (each namespace has its own routing tables);
  // network_namespaces(7).
  CKC_BEHAVIOUR("net.routes-isolated", "D",
                "a route added in one net namespace does not show up in the routing table of "
                "another");
  CKC_REQUIRE(NamespaceType(NsType::kNet), NamespaceQuota(CLONE_NEWNET), RootOrUserns());
  ASSERT_OK_AND_ASSIGN(ChildResult r, RunInSandbox(NetBox(), [](Channel& ch) {
                         NET_TRY(other, Netns::Create());
                         NET_TRY(here, NetlinkSocket::Open());
                         NET_TRY(there, NetlinkSocket::OpenIn(other));
                         NET_CHECK(here.SetUp("lo"));
                         NET_CHECK(there.SetUp("lo"));
                         NET_CHECK(here.AddRoute({.dst = "10.123.0.0/24", .dev = "lo"}));
                         NET_TRY(mine, here.Routes());
                         for (const auto& rt : mine) Tell(ch, "here route", rt.Describe());
                         NET_TRY(theirs, there.Routes());
                         for (const auto& rt : theirs) Tell(ch, "other route", rt.Describe());
                         return 0;
                       }));
  ASSERT_CHILD_FINISHED(r);
  CKC_ASSERT_SETUP(std::ranges::any_of(SeenAll(r, "here route"), [](const std::string& rt) {
    return rt.starts_with("10.123.0.0/24 ");
  })) << "the route in the namespace it was added to; saw " << Names(SeenAll(r, "here route"));
  EXPECT_THAT(SeenAll(r, "other route"), Not(Contains(StartsWith("10.123.0.0/24 "))))
      << "expected the route absent from the other namespace; saw "
      << Names(SeenAll(r, "other route"));
}

}  // namespace
}  // namespace ckc::test

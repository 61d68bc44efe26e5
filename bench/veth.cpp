// bench.veth: create and delete a veth pair through rtnetlink (libnl-route-3), both ends in one
// scratch namespace, or the peer created directly in a second one (IFLA_NET_NS_FD, as container
// runtimes do). RTM_DELLINK returns once the pair is unregistered, so create+delete is
// synchronous: no polling.
#include <fmt/format.h>

#include <cerrno>
#include <memory>

#include "harness.h"
#include "netlink.h"
#include "pieces.h"

namespace ckc::bench {
namespace {

CKC_BENCH_ROW(kVethRow, "bench.veth", "D", "BM_VethCreateDelete",
              "the cost of creating and deleting a veth pair through netlink, both ends in one "
              "namespace or the peer in another");

struct Scratch {
  Netns a, b;
  NetlinkSocket nl;  // in `a`
};

void BM_VethCreateDelete(benchmark::State& state, const std::shared_ptr<Scratch>& s,
                         bool other_ns) {
  if (!s) return Skip(state, Failure("netns", "scratch", "not created"), "needs:root");
  for (auto _ : state) {
    auto veth = s->nl.CreateVeth(
        {.name = "ckcv0", .peer = "ckcv1", .peer_netns_fd = other_ns ? s->b.fd() : -1});
    if (!veth) {
      // No veth driver reads as "Operation not supported"; anything else is a setup problem.
      Skip(state, veth.error(),
           veth.error().err == EOPNOTSUPP ? "config:CONFIG_VETH" : "setup:veth-create");
      break;
    }
    if (auto st = s->nl.DeleteLink("ckcv0"); !st) {
      Skip(state, st.error(), "setup:delete");
      break;
    }
    veth->Release();
  }
}

}  // namespace

Status RegisterVeth() {
  std::shared_ptr<Scratch> s;
  auto a = Netns::Create();
  auto b = Netns::Create();
  if (a && b) {
    CKC_TRY(nl, NetlinkSocket::OpenIn(*a));
    s = std::make_shared<Scratch>(Scratch{std::move(*a), std::move(*b), std::move(nl)});
  }
  for (bool other : {false, true}) {
    Add({.name = fmt::format("BM_VethCreateDelete/peer:{}", other ? "other-ns" : "same-ns"),
         .id = kVethRow.id,
         .fn = [s, other](benchmark::State& st) { BM_VethCreateDelete(st, s, other); }});
  }
  return {};
}

}  // namespace ckc::bench

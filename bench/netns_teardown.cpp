// bench.netns-teardown: create a net namespace and destroy it, measured until it is really gone.
//
// Dropping the last reference to a net namespace only queues it: cleanup_net() runs later on the
// ordered "netns" workqueue, which takes every namespace queued so far as one batch, runs the
// pernet exit methods (default_device_exit_batch unregisters its devices), then frees it. There
// is no file descriptor that reports the end, so the measurement watches an effect: the namespace
// gets a veth whose peer lives in a reference namespace we keep; the peer disappears only when
// cleanup_net has unregistered the dying namespace's devices (a veth goes as a pair). Polled at
// 50 µs (the teardown takes milliseconds), with a deadline.
//   veth:1/batch:1   one namespace with a veth: the latency of one teardown
//   veth:N/batch:16  16 namespaces queued back to back, of which only the last carries the veth
//                    sentinel (veth:0 ... the sentinel is the 17th, so its veth is amortised over
//                    the batch): the workqueue is ordered, so when the sentinel's peer is gone,
//                    every namespace queued before it has been through cleanup_net too.
//   curve:netns-alive/alive:N  one namespace with a veth (as veth:1/batch:1) created and
//                    destroyed while N namespaces are alive besides the host's (the reference
//                    and N - 1 more held by their fds): a scale curve (slope group
//                    BM_NetnsTeardown/curve:netns-alive). Namespaces are meant to be
//                    independent, so the cost is meant to be flat in N (expect_flat; cleanup_net's
//                    unhash_nsid does walk every live namespace, a small linear term).
// Figures are per namespace (manual time = batch time / batch).
#include <fmt/format.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "fd.h"

#include "harness.h"
#include "netlink.h"
#include "pieces.h"

namespace ckc::bench {
namespace {

CKC_BENCH_ROW(kNetnsTeardownRow, "bench.netns-teardown", "D", "BM_NetnsTeardown",
              "the cost of creating and destroying a network namespace, bare and holding one end "
              "of a veth pair");

struct Reference {
  Netns ns;
  NetlinkSocket nl;
  int next = 0;
};

// A namespace with a veth whose peer `peer` is in the reference namespace; the returned Netns is
// the only reference left to it (the veth owner and the socket are released).
Result<Netns> WithVeth(Reference& ref, const std::string& peer) {
  CKC_TRY(ns, Netns::Create());
  CKC_TRY(nl, NetlinkSocket::OpenIn(ns));
  CKC_TRY(veth, nl.CreateVeth({.name = "ckcb0", .peer = peer, .peer_netns_fd = ref.ns.fd()}));
  veth.Release();
  return ns;
}

Status WaitGone(const Reference& ref, const std::string& peer) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    CKC_TRY(link, ref.nl.FindLink(peer));
    if (!link) return {};
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
  return Failure("netns", peer, "the veth peer of a destroyed namespace outlived 30 s");
}

Result<double> OneBatch(Reference& ref, int bare, bool veth_each) {
  using Clock = std::chrono::steady_clock;
  auto t0 = Clock::now();
  std::string peer;
  for (int i = 0; i < bare; ++i) {
    peer = fmt::format("ckcp{}", ref.next++ % 100000);
    if (veth_each) {
      CKC_TRY(ns, WithVeth(ref, peer));
      ns.Reset();
    } else {
      CKC_TRY(ns, Netns::Create());
      ns.Reset();
    }
  }
  if (!veth_each) {
    peer = fmt::format("ckcp{}", ref.next++ % 100000);
    CKC_TRY(sentinel, WithVeth(ref, peer));
    sentinel.Reset();
  }
  CKC_CHECK(WaitGone(ref, peer));
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

void BM_NetnsTeardown(benchmark::State& state, const std::shared_ptr<Reference>& ref, int batch,
                      bool veth) {
  if (!ref) return Skip(state, Failure("netns", "reference", "not created"), "needs:root");
  for (auto _ : state) {
    auto secs = OneBatch(*ref, batch, veth);
    if (!secs) {
      Skip(state, secs.error(), "setup:netns");
      break;
    }
    state.SetIterationTime(*secs / batch);
  }
  state.counters["batch"] = batch;
}

// The namespaces held alive for the curve; one pool, resized before each point's case.
struct AlivePool {
  std::vector<Netns> held;
};

// Makes `pool` hold exactly `n` namespaces. Those dropped are torn down by the ordered netns
// workqueue: a sentinel queued after them is gone only once they are, so waiting for it keeps
// their teardown out of the next case's figures.
Status ResizePool(Reference& ref, AlivePool& pool, std::size_t n) {
  if (pool.held.size() > n) {
    pool.held.resize(n);
    CKC_TRY(flushed, OneBatch(ref, 0, false));
    (void)flushed;
  }
  while (pool.held.size() < n) {
    CKC_TRY(ns, Netns::Create());
    pool.held.push_back(std::move(ns));
  }
  return {};
}

void BM_NetnsAlive(benchmark::State& state, const std::shared_ptr<Reference>& ref,
                   const std::shared_ptr<AlivePool>& pool, int alive) {
  if (!ref) return Skip(state, Failure("netns", "reference", "not created"), "needs:root");
  auto max = ReadFile("/proc/sys/user/max_net_namespaces");
  if (max && std::stol(*max) < alive + 2) {
    return Skip(state, Failure("netns", "/proc/sys/user/max_net_namespaces", *max),
                fmt::format("needs:max_net_namespaces>={}", alive + 2));
  }
  if (auto st = ResizePool(*ref, *pool, static_cast<std::size_t>(alive - 1)); !st) {
    return Skip(state, st.error(), "setup:netns-pool");
  }
  for (auto _ : state) {
    auto secs = OneBatch(*ref, 1, true);
    if (!secs) {
      Skip(state, secs.error(), "setup:netns");
      break;
    }
    state.SetIterationTime(*secs);
  }
  state.counters["alive"] = alive;
}

}  // namespace

Status RegisterNetnsTeardown() {
  std::shared_ptr<Reference> ref;
  if (auto ns = Netns::Create()) {
    auto nl = NetlinkSocket::OpenIn(*ns);
    if (!nl) return Propagate(nl.error());
    ref = std::make_shared<Reference>(Reference{std::move(*ns), std::move(*nl)});
  }
  const int64_t iters = ByMode<int64_t>(1, 5, 30);
  for (auto [veth, batch] : {std::pair{true, 1}, std::pair{true, 16}, std::pair{false, 16}}) {
    Add({.name = fmt::format("BM_NetnsTeardown/veth:{}/batch:{}", veth ? 1 : 0, batch),
         .id = kNetnsTeardownRow.id,
         .fn = [ref, batch, veth](benchmark::State& s) { BM_NetnsTeardown(s, ref, batch, veth); },
         .iterations = batch == 1 ? iters * 4 : iters,
         .manual_time = true});
  }
  auto pool = std::make_shared<AlivePool>();
  for (int alive : ByMode<std::vector<int>>({1, 4}, {1, 16, 256}, {1, 4, 16, 64, 256})) {
    Add({.name = fmt::format("BM_NetnsTeardown/curve:netns-alive/alive:{}", alive),
         .id = kNetnsTeardownRow.id,
         .fn = [ref, pool, alive](benchmark::State& s) { BM_NetnsAlive(s, ref, pool, alive); },
         .slope_group = "BM_NetnsTeardown/curve:netns-alive",
         .level = alive,
         .shape = "flat",
         .iterations = ByMode<int64_t>(1, 3, 10),
         .manual_time = true});
  }
  return {};
}

}  // namespace ckc::bench

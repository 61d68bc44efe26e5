#include "memcg_cases.h"

#include <fmt/format.h>

#include <cmath>
#include <numeric>

namespace ckc::bench {

std::vector<int> SeriesDepths() {
  return ByMode<std::vector<int>>({0, 1, 2}, {0, 1, 4, 8}, {0, 1, 2, 4, 8, 16});
}

void RunLoop(benchmark::State& state, const MemcgEnv& env, const Cgroup* g, const LoopSpec& spec) {
  Placement in(env, g);
  if (!in.status()) return Skip(state, in.status().error(), "setup:attach");
  const double pages = static_cast<double>(spec.bytes / kPage);
  // Warm-up: the first charges in a group after a move fill its per-CPU stock and caches.
  if (spec.before_cycle) {
    if (auto st = spec.before_cycle(); !st) return Skip(state, st.error(), "setup:before-cycle");
  }
  if (auto w = spec.cycle(std::max(spec.bytes / 8, kPage)); !w) {
    return Skip(state, w.error(), "setup:warm-up");
  }
  for (auto _ : state) {
    if (spec.before_cycle) {
      if (auto st = spec.before_cycle(); !st) {
        Skip(state, st.error(), "setup:before-cycle");
        break;
      }
    }
    auto secs = spec.cycle(spec.bytes);
    if (!secs) {
      Skip(state, secs.error(), "loop");
      break;
    }
    state.SetIterationTime(*secs / pages);
  }
  state.counters["pages"] = pages;
  state.counters["cpu"] = env.cpu();
}

void RunPaired(benchmark::State& state, const MemcgEnv& env, const Cgroup* root,
               const Cgroup* leaf, const LoopSpec& spec) {
  const double pages = static_cast<double>(spec.bytes / kPage);
  // One cycle in `g`, its thread CPU seconds.
  auto cycle_in = [&](const Cgroup* g, std::size_t bytes) -> Result<double> {
    CKC_CHECK(env.Enter(g));
    if (spec.before_cycle) CKC_CHECK(spec.before_cycle());
    return spec.cycle(bytes);
  };
  const std::size_t warm = std::max(spec.bytes / 8, kPage);
  for (const Cgroup* g : {root, leaf}) {
    if (auto w = cycle_in(g, warm); !w) {
      (void)env.Return();
      return Skip(state, w.error(), "setup:warm-up");
    }
  }
  std::vector<double> log_ratios;
  double root_seconds = 0;
  bool leaf_first = false;
  for (auto _ : state) {
    // root, leaf | leaf, root | root, leaf ...: neither side always runs first.
    Result<double> a = cycle_in(leaf_first ? leaf : root, spec.bytes);
    Result<double> b = a ? cycle_in(leaf_first ? root : leaf, spec.bytes) : a;
    if (!a || !b) {
      Skip(state, (!a ? a : b).error(), "loop");
      break;
    }
    double leaf_s = leaf_first ? *a : *b, root_s = leaf_first ? *b : *a;
    leaf_first = !leaf_first;
    state.SetIterationTime(leaf_s / pages);
    root_seconds += root_s;
    log_ratios.push_back(std::log(leaf_s / root_s));
  }
  (void)env.Return();
  if (log_ratios.empty()) return;
  // The geometric mean of leaf/root over the pairs: drift that scales both cycles of a pair
  // cancels, and a slow pair does not outweigh the others.
  double mean_log = std::accumulate(log_ratios.begin(), log_ratios.end(), 0.0) /
                    static_cast<double>(log_ratios.size());
  state.counters["overhead_pct"] = 100.0 * std::expm1(mean_log);
  state.counters["root_ns_per_page"] =
      1e9 * root_seconds / static_cast<double>(log_ratios.size()) / pages;
  state.counters["pages"] = pages;
  state.counters["cpu"] = env.cpu();
}

namespace {

CKC_BENCH_ROW(kMemcgOffRow, "bench.memcg-off", "D", "BM_MemcgFault",
              "the memcg fault figures on a kernel booted with cgroup_disable=memory, the true "
              "accounting-off baseline (in a VM)");

std::string CaseName(const LoopSpec& spec, int depth, int limit_pct) {
  return fmt::format("{}/loop:{}/depth:{}/limit:{}", spec.family, spec.loop, depth, limit_pct);
}

void AddCase(MemcgEnv& env, const LoopSpec& spec, int depth, int limit_pct) {
  uint64_t limit = limit_pct ? spec.bytes * static_cast<uint64_t>(limit_pct) / 100 : 0;
  auto leaf = env.Leaf(depth, limit);
  Case c{.name = CaseName(spec, depth, limit_pct), .id = spec.id};
  if (!leaf) {
    Error e = leaf.error();
    c.fn = [e](benchmark::State& s) { Skip(s, e, "setup:cgroup"); };
  } else {
    const Cgroup* g = *leaf;
    c.fn = [&env, g, spec](benchmark::State& s) { RunLoop(s, env, g, spec); };
  }
  if (depth > 0) c.baseline = CaseName(spec, 0, 0);
  c.slope_group = fmt::format("{}/loop:{}/limit:{}", spec.family, spec.loop, limit_pct);
  c.level = depth;
  c.iterations = spec.iterations;
  c.manual_time = true;
  Add(std::move(c));
}

// depth:N against the root, cycle by cycle in one case (RunPaired), for depths 1, 4 and 8.
void AddPairedCase(MemcgEnv& env, const LoopSpec& spec, int depth) {
  Case c{.name = fmt::format("{}/loop:{}/paired:root/depth:{}/limit:0", spec.family, spec.loop,
                             depth),
         .id = spec.id};
  auto root = env.Leaf(0, 0);
  auto leaf = env.Leaf(depth, 0);
  if (!root || !leaf) {
    Error e = !root ? root.error() : leaf.error();
    c.fn = [e](benchmark::State& s) { Skip(s, e, "setup:cgroup"); };
  } else {
    const Cgroup *r = *root, *l = *leaf;
    c.fn = [&env, r, l, spec](benchmark::State& s) { RunPaired(s, env, r, l, spec); };
  }
  c.iterations = spec.iterations;
  c.manual_time = true;
  c.percent_counter = "overhead_pct";
  Add(std::move(c));
}

}  // namespace

void RegisterDepthSeries(MemcgEnv& env, const LoopSpec& spec) {
  if (!env.accounting_off().empty()) {
    // No memory cgroups on this kernel: the loop alone, under the same case name, is the
    // accounting-off baseline the reports set beside the same kernel booted with it on.
    LoopSpec off = spec;
    off.id = kMemcgOffRow.id;
    AddCase(env, off, 0, 0);
    return;
  }
  for (int depth : SeriesDepths()) {
    AddCase(env, spec, depth, 0);
    // The root takes no limit, and the run-scoped parent (depth 1) holds every other group.
    if (depth < 2) continue;
    for (int pct : spec.limit_pcts) AddCase(env, spec, depth, pct);
  }
  for (int depth : SeriesDepths()) {
    if (depth == 1 || depth == 4 || depth == 8) AddPairedCase(env, spec, depth);
  }
}

}  // namespace ckc::bench

#include "memcg_cases.h"

#include <fmt/format.h>

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

namespace {

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

}  // namespace

void RegisterDepthSeries(MemcgEnv& env, const LoopSpec& spec) {
  if (!env.accounting_off().empty()) {
    // No memory cgroups on this kernel: the loop alone, under the same case name, is the
    // accounting-off baseline the reports set beside the same kernel booted with it on.
    LoopSpec off = spec;
    off.id = "bench.memcg-off";
    AddCase(env, off, 0, 0);
    return;
  }
  for (int depth : SeriesDepths()) {
    AddCase(env, spec, depth, 0);
    // The root takes no limit, and the run-scoped parent (depth 1) holds every other group.
    if (depth < 2) continue;
    for (int pct : spec.limit_pcts) AddCase(env, spec, depth, pct);
  }
}

}  // namespace ckc::bench

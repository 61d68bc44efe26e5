#include "memcg_cases.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <numeric>

namespace ckc::bench {

std::vector<int> SeriesDepths() {
  return ByMode<std::vector<int>>({0, 1, 2}, {0, 1, 4, 8}, {0, 1, 2, 4, 8, 16});
}

std::string PlacementProblem(const MemcgEnv& env, int depth) {
  if (depth == 1 && env.accounting_off().empty() && env.version() == CgroupVersion::kV2) {
    return "kernel:cgroup2-no-internal-processes (the run-scoped parent at depth 1 holds the "
           "other groups, so cgroup v2 takes no process into it)";
  }
  return "";
}

namespace {

// What the timed cycles of one case added up to.
struct Totals {
  double cpu_seconds = 0, wall_seconds = 0;
  int64_t cycles = 0;
};

// Errors the case with `problem` (from a check) or with the check's own failure; true if it did.
bool Failed(benchmark::State& state, const Result<std::string>& problem, std::string_view what) {
  if (!problem) {
    Skip(state, problem.error(), what);
    return true;
  }
  if (problem->empty()) return false;
  state.SkipWithError(problem->c_str());
  return true;
}

// One timed cycle (thread CPU time, and the steady clock around it) after the untimed
// before_cycle and check_cycle; false when the case errored.
bool TimedCycle(benchmark::State& state, const LoopSpec& spec, Totals* t, double* cpu_seconds) {
  if (spec.before_cycle) {
    if (auto st = spec.before_cycle(); !st) {
      Skip(state, st.error(), "setup:before-cycle");
      return false;
    }
  }
  if (spec.check_cycle && Failed(state, spec.check_cycle(), "setup:check-cycle")) return false;
  auto w0 = std::chrono::steady_clock::now();
  auto secs = spec.cycle(spec.bytes);
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
  if (!secs) {
    Skip(state, secs.error(), "loop");
    return false;
  }
  t->cpu_seconds += *secs;
  t->wall_seconds += wall;
  ++t->cycles;
  *cpu_seconds = *secs;
  return true;
}

void ReportCounters(benchmark::State& state, const MemcgEnv& env, const LoopSpec& spec,
                    const Totals& t) {
  const double pages = static_cast<double>(spec.bytes / kPage);
  state.counters["pages"] = pages;
  state.counters["cpu"] = env.cpu();
  if (t.cycles == 0) return;
  const double cycles = static_cast<double>(t.cycles);
  state.counters["wall_ns_per_page"] = 1e9 * t.wall_seconds / cycles / pages;
  if (spec.huge_bytes) {
    const double huge = static_cast<double>(spec.bytes / spec.huge_bytes);
    state.counters["ns_per_huge_page"] = 1e9 * t.cpu_seconds / cycles / huge;
  }
}

}  // namespace

void RunLoop(benchmark::State& state, const MemcgEnv& env, const Cgroup* g, const LoopSpec& spec) {
  if (!spec.unavailable.empty()) return state.SkipWithError(spec.unavailable.c_str());
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
  if (spec.round_begin) {
    if (auto st = spec.round_begin(); !st) return Skip(state, st.error(), "setup:round-check");
  }
  Totals t;
  for (auto _ : state) {
    double secs = 0;
    if (!TimedCycle(state, spec, &t, &secs)) break;
    state.SetIterationTime(secs / pages);
  }
  if (!state.error_occurred() && spec.round_end &&
      Failed(state, spec.round_end(), "setup:round-check")) {
    return;
  }
  ReportCounters(state, env, spec, t);
}

void RunPaired(benchmark::State& state, const MemcgEnv& env, const Cgroup* root, const Cgroup* leaf,
               const LoopSpec& spec) {
  if (!spec.unavailable.empty()) return state.SkipWithError(spec.unavailable.c_str());
  const double pages = static_cast<double>(spec.bytes / kPage);
  const std::size_t warm = std::max(spec.bytes / 8, kPage);
  for (const Cgroup* g : {root, leaf}) {
    Status st = env.Enter(g);
    if (st && spec.before_cycle) st = spec.before_cycle();
    Result<double> w = st ? spec.cycle(warm) : std::unexpected(st.error());
    if (!w) {
      (void)env.Return();
      return Skip(state, w.error(), "setup:warm-up");
    }
  }
  if (spec.round_begin) {
    if (auto st = spec.round_begin(); !st) {
      (void)env.Return();
      return Skip(state, st.error(), "setup:round-check");
    }
  }
  std::vector<double> log_ratios;
  double root_seconds = 0;
  bool leaf_first = false;
  Totals leaf_totals, root_totals;
  // One cycle in `g`, its thread CPU seconds in *secs; false when the case errored.
  auto cycle_in = [&](const Cgroup* g, double* secs) {
    if (auto st = env.Enter(g); !st) {
      Skip(state, st.error(), "setup:attach");
      return false;
    }
    return TimedCycle(state, spec, g == leaf ? &leaf_totals : &root_totals, secs);
  };
  for (auto _ : state) {
    // root, leaf | leaf, root | root, leaf ...: neither side always runs first.
    double a = 0, b = 0;
    if (!cycle_in(leaf_first ? leaf : root, &a) || !cycle_in(leaf_first ? root : leaf, &b)) break;
    double leaf_s = leaf_first ? a : b, root_s = leaf_first ? b : a;
    leaf_first = !leaf_first;
    state.SetIterationTime(leaf_s / pages);
    root_seconds += root_s;
    log_ratios.push_back(std::log(leaf_s / root_s));
  }
  (void)env.Return();
  if (log_ratios.empty() || state.error_occurred()) return;
  if (spec.round_end && Failed(state, spec.round_end(), "setup:round-check")) return;
  // The geometric mean of leaf/root over the pairs: drift that scales both cycles of a pair
  // cancels, and a slow pair does not outweigh the others.
  double mean_log = std::accumulate(log_ratios.begin(), log_ratios.end(), 0.0) /
                    static_cast<double>(log_ratios.size());
  state.counters["overhead_pct"] = 100.0 * std::expm1(mean_log);
  state.counters["root_ns_per_page"] =
      1e9 * root_seconds / static_cast<double>(log_ratios.size()) / pages;
  ReportCounters(state, env, spec, leaf_totals);
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
  if (std::string why = PlacementProblem(env, depth); !why.empty()) {
    c.fn = [why](benchmark::State& s) { s.SkipWithError(why.c_str()); };
  } else if (!leaf) {
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
  Case c{
      .name = fmt::format("{}/loop:{}/paired:root/depth:{}/limit:0", spec.family, spec.loop, depth),
      .id = spec.id};
  auto root = env.Leaf(0, 0);
  auto leaf = env.Leaf(depth, 0);
  if (std::string why = PlacementProblem(env, depth); !why.empty()) {
    c.fn = [why](benchmark::State& s) { s.SkipWithError(why.c_str()); };
  } else if (!root || !leaf) {
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

// Scale curves of the memcg charge (bench.memcg-fault-anon), each a slope group the harness fits
// per round (ns per level, and relative to the base cost: harness.h), on the populate loop (the
// kernel-side path, where the charge is a large share of the cost):
//   curve:depth     leaf at depth 1, 2, 4, 8, 16: a charge walks one page_counter per level
//                   (mm/page_counter.c, page_counter_try_charge), so the cost is meant to grow
//                   linearly with depth (expect_linear);
//   curve:siblings  one leaf among N groups of one parent, the N - 1 others alive and each
//                   holding a charged shmem page: a charge touches its own ancestors only, never
//                   its siblings, so the cost is meant to be flat in N (expect_flat).
// Case names: BM_MemcgFaultAnon/curve:<curve>/loop:populate/<depth|siblings>:N; slope groups
// BM_MemcgFaultAnon/curve:<curve>/loop:populate. On cgroup v2 the depth curve starts at 2.
#include <fmt/format.h>

#include <string>
#include <vector>

#include "memcg_cases.h"

namespace ckc::bench {
namespace {

struct Curve {
  std::string name;   // "depth"
  std::string key;    // "depth" (the level's name in the case name)
  std::string shape;  // "linear" / "flat"
};

void AddPoint(MemcgEnv& env, const LoopSpec& spec, const Curve& curve, int level,
              const Result<const Cgroup*>& group) {
  std::string family = fmt::format("{}/curve:{}/loop:{}", spec.family, curve.name, spec.loop);
  Case c{.name = fmt::format("{}/{}:{}", family, curve.key, level), .id = spec.id};
  if (!group) {
    Error e = group.error();
    c.fn = [e](benchmark::State& s) { Skip(s, e, "setup:cgroup"); };
  } else {
    const Cgroup* g = *group;
    c.fn = [&env, g, spec](benchmark::State& s) { RunLoop(s, env, g, spec); };
  }
  c.slope_group = family;
  c.level = level;
  c.shape = curve.shape;
  c.iterations = spec.iterations;
  c.manual_time = true;
  Add(std::move(c));
}

}  // namespace

Status RegisterCurves(MemcgEnv& env, const LoopSpec& populate) {
  const Curve depth{"depth", "depth", "linear"};
  for (int d : ByMode<std::vector<int>>({1, 4}, {1, 4, 16}, {1, 2, 4, 8, 16})) {
    // cgroup v2 takes no process at depth 1 (PlacementProblem): its curve starts at depth 2
    // (no mode's list holds 2 beside 1 but the full one, where 2 then stands once).
    if (!PlacementProblem(env, d).empty()) {
      if (Opts().mode == Mode::kFull) continue;
      d = 2;
    }
    AddPoint(env, populate, depth, d, env.Leaf(d, 0));
  }
  const Curve siblings{"siblings", "siblings", "flat"};
  for (int n : ByMode<std::vector<int>>({1, 4}, {1, 8, 64}, {1, 4, 16, 64})) {
    AddPoint(env, populate, siblings, n, env.SiblingSet(fmt::format("sib{}", n), n));
  }
  return {};
}

}  // namespace ckc::bench

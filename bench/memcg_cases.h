// Registration of the memcg fault benchmarks: one loop, run in the root cgroup and in leaves at
// each depth (with and without a limit), interleaved by the harness, paired against the root.
//
//   RegisterDepthSeries(env, {.family = "BM_MemcgFaultAnon", .id = "bench.memcg-fault-anon",
//                             .loop = "write", .bytes = 128 << 20, .iterations = 2,
//                             .cycle = [](size_t bytes) { ...; return seconds; }});
//   -> BM_MemcgFaultAnon/loop:write/depth:0/limit:0, .../depth:4/limit:0, ...
//      each reporting ns per 4 KiB page; limit:N means memory.max = N % of the working set;
//      and BM_MemcgFaultAnon/loop:write/paired:root/depth:4/limit:0 (depths 1, 4, 8): root and
//      leaf alternated cycle by cycle in one case, the overhead figure least moved by drift.
//   Counters of every case: pages, cpu, wall_ns_per_page (steady clock around the same cycles);
//   with .huge_bytes also ns_per_huge_page. A round whose check fails errors with its reason.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "harness.h"
#include "memcg_env.h"
#include "result.h"

namespace ckc::bench {

inline constexpr std::size_t kPage = 4096;

struct LoopSpec {
  std::string family;  // BM_MemcgFaultAnon
  std::string id;      // bench.memcg-fault-anon
  std::string loop;    // "write", "populate", ...
  std::string fs;      // file system of the backing file, named in the label context ("" anon)
  std::size_t bytes = 0;
  int64_t iterations = 1;
  std::vector<int> limit_pcts;  // limited variants (percent of `bytes`) besides "no limit"
  // One cycle over `bytes`; returns the thread CPU seconds of its timed part.
  std::function<Result<double>(std::size_t bytes)> cycle;
  // Untimed work before each cycle (e.g. dropping a file's cache).
  std::function<Status()> before_cycle;
  // Untimed, after before_cycle: "" or why the cycle would not measure what the case says
  // ("cache:not-dropped ..."); the case then errors with that reason.
  std::function<Result<std::string>()> check_cycle;
  // Around the timed cycles of a round: begin snapshots, end says "" or why the round did not
  // measure what the case says ("thp:fallback 3 of 16"); the case then errors with it.
  std::function<Status()> round_begin;
  std::function<Result<std::string>()> round_end;
  // Non-empty: the host cannot run this loop at all; every case skips with this reason
  // ("thp:never (...)", "needs:loop-device (...)").
  std::string unavailable;
  std::size_t huge_bytes = 0;  // THP: also report ns_per_huge_page (per fault of this size)
};

// The depths of the series in this mode (0 = root).
[[nodiscard]] std::vector<int> SeriesDepths();

// Registers the root case and a leaf case per depth (and per limit) for `spec`; with accounting
// off (cgroup_disable=memory), only the depth:0 case, labelled bench.memcg-off.
void RegisterDepthSeries(MemcgEnv& env, const LoopSpec& spec);

// A case body: enters `g` (stays put for nullptr), runs one untimed warm-up cycle, then times
// `spec.cycle` per iteration in ns per page (manual time), and returns to the origin cgroup.
void RunLoop(benchmark::State& state, const MemcgEnv& env, const Cgroup* g, const LoopSpec& spec);

// A case body pairing the root cgroup with `leaf` cycle by cycle (root, leaf | leaf, root | ...),
// so that both cycles of a pair see the same state of the machine. Time: the leaf's ns per page;
// counters: overhead_pct (geometric mean of leaf/root over the pairs, as a percentage, the
// figure the harness puts an interval on across rounds) and root_ns_per_page.
void RunPaired(benchmark::State& state, const MemcgEnv& env, const Cgroup* root, const Cgroup* leaf,
               const LoopSpec& spec);

// Registers the anonymous / file loops (memcg_anon.cpp, memcg_file.cpp) and the scale curves
// (memcg_curves.cpp: charge cost vs depth and vs sibling groups alive).
[[nodiscard]] Status RegisterAnon(MemcgEnv& env);
// private_mount_ns: the process has a mount namespace of its own (the read loop mounts ext4).
[[nodiscard]] Status RegisterFile(MemcgEnv& env, bool private_mount_ns);
[[nodiscard]] Status RegisterCurves(MemcgEnv& env, const LoopSpec& populate);

// Why the process cannot be placed at `depth` here ("" when it can): cgroup v2 takes no
// process into the run-scoped parent (depth 1), which holds the other groups.
[[nodiscard]] std::string PlacementProblem(const MemcgEnv& env, int depth);

}  // namespace ckc::bench

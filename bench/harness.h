// The ckc benchmark driver: Google Benchmark does the timing and writes the JSON; this driver
// runs the registered cases in interleaved rounds (A B C / C B A / A B C ...) instead of one
// after the other, so slow drift of a shared machine hits every configuration alike, after one
// untimed warm-up round (except in smoke mode), and adds
// the figures a single benchmark run cannot give:
//   - per case: mean / median / stddev / cv aggregates over the rounds; a cv above the bound is
//     flagged ("cv-exceeded" in the label, counter cv_exceeded = 1), never silently reported;
//   - per case with a baseline: the overhead against it, with a 95 % interval from Student's t
//     over the paired rounds; an interval that spans zero is labelled "not-resolved" (or, for a
//     case that pairs configurations itself, the interval of its per-round percent counter);
//   - per slope group: the cost per level (e.g. ns per cgroup level) fitted per round, with its
//     interval over the rounds; for a scale curve also the slope relative to the base cost and
//     the shape the kernel intends (flat or linear).
// An interval that spans zero is never summarised as a point value: stderr says "not resolved"
// with its ends and bound; the entry carries resolved = 0 and the ends (lower95_*, upper95_*).
// Every entry's label starts with the catalogue ID (bench.*).
//
//   int main(int argc, char** argv) {
//     return ckc::bench::Main(argc, argv, "ckc-bench-x", [] -> ckc::Status {
//       ckc::bench::Add({.name = "BM_XOp/size:4096", .id = "bench.x", .fn = ...});
//       return {};
//     });
//   }
//
// Flags: --smoke | --short | --full (sizes and rounds), --rounds=N, --json=FILE (default stdout),
// --filter=REGEX (case names), --cv-bound=FRACTION, --cpu=N (the CPU memcg loops pin to),
// --list; --benchmark_* flags go to Google Benchmark. Bad input: one line on stderr, exit 2.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "result.h"

namespace ckc::bench {

enum class Mode { kSmoke, kShort, kFull };
[[nodiscard]] std::string_view ModeName(Mode m);

struct Options {
  Mode mode = Mode::kShort;
  int rounds = 0;         // 0: the mode's default
  std::string json_path;  // empty: stdout
  std::string filter;     // regex over case names; empty: all
  double cv_bound = 0.0;  // 0: the mode's default
  int cpu = -1;           // -1: the last online CPU
  bool list = false;
};
[[nodiscard]] const Options& Opts();

// A value chosen by the run mode (sizes, iteration counts, depth lists).
template <typename T>
[[nodiscard]] T ByMode(T smoke, T short_mode, T full) {
  switch (Opts().mode) {
    case Mode::kSmoke:
      return smoke;
    case Mode::kShort:
      return short_mode;
    case Mode::kFull:
      return full;
  }
  return full;
}

// A benchmark's catalogue row, declared once beside its cases (reports/catalogue.py reads these
// declarations out of the sources; the ID must be a literal):
//   CKC_BENCH_ROW(kVethRow, "bench.veth", "D", "BM_VethCreateDelete", "what is measured");
//   Add({.name = "BM_VethCreateDelete/peer:same-ns", .id = kVethRow.id, ...});
struct Row {
  const char* id;        // "bench.veth"
  const char* source;    // "D", "F" or "K" (reports/catalogue.py SOURCE_DOCUMENTS)
  const char* family;    // the BM_ name its cases start with
  const char* sentence;  // what is measured
};
#define CKC_BENCH_ROW(name, ...) \
  [[maybe_unused]] constexpr ::ckc::bench::Row name { __VA_ARGS__ }

struct Case {
  std::string name;  // "BM_MemcgFaultAnon/loop:write/depth:4/limit:0"
  std::string id;    // catalogue row: "bench.memcg-fault-anon"
  std::function<void(benchmark::State&)> fn;
  std::string baseline;     // name of the case to pair with (overhead), "" for none
  std::string slope_group;  // cases of one group get a per-level slope fitted ...
  int level = -1;           // ... over this level (>= 1 enters the fit)
  // For a scale curve's slope group: the shape the kernel intends, "flat" (cost independent of
  // the level) or "linear" (cost grows with it); "" for none. Read from the group's first case.
  std::string shape;
  int64_t iterations = 0;    // fixed iterations per round; 0: min_time decides
  bool manual_time = false;  // fn reports each iteration's time (SetIterationTime)
  double min_time = 0;       // seconds per round when iterations == 0; 0: the mode's default
  // A counter the case computes itself each round as a percentage (e.g. "overhead_pct" of a
  // case that pairs configurations cycle by cycle): its mean over the rounds with a 95 % t
  // interval becomes an "overhead" entry, like a baseline's.
  std::string percent_counter;
};

// Registers a case (with Google Benchmark, in the interleaving order).
void Add(Case c);

// Parses flags, runs `setup` (which Adds the cases and may AddCustomContext), runs the rounds,
// writes the JSON and a summary on stderr. Returns the process exit code.
[[nodiscard]] int Main(int argc, char** argv, std::string_view binary,
                       const std::function<Status()>& setup);

// Called by `setup` instead of adding cases when the binary cannot run here at all (e.g.
// "needs:root (euid 65534)"): Main writes a JSON with no entries and the reason as context
// ckc_skipped, says so in one line on stderr and exits 0, as a skipped test would.
void SkipAll(std::string reason);

// Skips the case with a machine-readable reason ("needs:root", "kernel:thp-never").
void Skip(benchmark::State& state, const Error& e, std::string_view reason);
inline void Skip(benchmark::State& state, const std::unexpected<Error>& e,
                 std::string_view reason) {
  Skip(state, e.error(), reason);
}

}  // namespace ckc::bench

#include "harness.h"

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <vector>

#include "checks.h"
#include "fd.h"
#include "stats.h"

namespace ckc::bench {

using Run = benchmark::BenchmarkReporter::Run;

namespace {

Options g_options;
std::vector<Case> g_cases;
std::string g_skipped;  // SkipAll's reason

// Collects the runs of every round; prints progress in full mode.
class Collector : public benchmark::BenchmarkReporter {
 public:
  bool ReportContext(const Context& context) override {
    if (!context_) context_.emplace(context);
    return true;
  }
  void ReportRuns(const std::vector<Run>& runs) override {
    if (round_ < 0) return;  // the warm-up round is not kept
    for (const Run& r : runs) {
      if (r.run_type != Run::RT_Iteration) continue;
      runs_[current_].emplace(round_, r);
      if (r.error_occurred && !warned_[current_]++) {
        std::fprintf(stderr, "%s: %s\n", r.benchmark_name().c_str(), r.error_message.c_str());
      }
    }
  }
  void set_round(int r) { round_ = r; }
  // Google Benchmark suffixes the instance name (/iterations:N/manual_time): runs are filed
  // under the case name instead.
  void set_case(const std::string& name) { current_ = name; }
  [[nodiscard]] const std::optional<Context>& context() const { return context_; }
  // name -> round -> run
  std::map<std::string, std::map<int, Run>> runs_;

 private:
  std::optional<Context> context_;
  std::map<std::string, int> warned_;
  int round_ = 0;
  std::string current_;
};

std::string RegexEscape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

int Usage(std::string_view binary, const std::string& problem) {
  std::fprintf(stderr,
               "%.*s: %s (flags: --smoke|--short|--full --rounds=N --json=FILE "
               "--filter=REGEX --cv-bound=X --cpu=N --list, --benchmark_*)\n",
               static_cast<int>(binary.size()), binary.data(), problem.c_str());
  return 2;
}

// Parses the ckc flags, leaves the rest in argv for Google Benchmark; "" or the problem.
std::string ParseFlags(int* argc, char** argv) {
  int out = 1;
  for (int i = 1; i < *argc; ++i) {
    std::string a = argv[i];
    auto value = [&](std::string_view flag) -> std::optional<std::string> {
      if (a.starts_with(std::string(flag) + "=")) return a.substr(flag.size() + 1);
      return std::nullopt;
    };
    try {
      if (a == "--smoke")
        g_options.mode = Mode::kSmoke;
      else if (a == "--short")
        g_options.mode = Mode::kShort;
      else if (a == "--full")
        g_options.mode = Mode::kFull;
      else if (a == "--list")
        g_options.list = true;
      else if (auto v = value("--rounds"))
        g_options.rounds = std::stoi(*v);
      else if (auto v = value("--json"))
        g_options.json_path = *v;
      else if (auto v = value("--filter"))
        g_options.filter = *v;
      else if (auto v = value("--cv-bound"))
        g_options.cv_bound = std::stod(*v);
      else if (auto v = value("--cpu"))
        g_options.cpu = std::stoi(*v);
      else
        argv[out++] = argv[i];
    } catch (const std::exception&) {
      return fmt::format("bad value in `{}`", a);
    }
  }
  *argc = out;
  if (g_options.rounds < 0 || g_options.cv_bound < 0) return "negative --rounds or --cv-bound";
  if (g_options.filter.empty()) return "";
  try {
    std::regex check(g_options.filter);
  } catch (const std::regex_error&) {
    return fmt::format("bad --filter regex `{}`", g_options.filter);
  }
  return "";
}

int Rounds() { return g_options.rounds > 0 ? g_options.rounds : ByMode(2, 3, 15); }
double CvBound() { return g_options.cv_bound > 0 ? g_options.cv_bound : ByMode(1.0, 0.10, 0.05); }

// The samples (ns) of a case per round, error runs left out.
std::map<int, double> Samples(const std::map<int, Run>& runs) {
  std::map<int, double> out;
  for (const auto& [round, r] : runs) {
    if (!r.error_occurred) out[round] = r.GetAdjustedRealTime();
  }
  return out;
}

std::vector<double> Values(const std::map<int, double>& m) {
  std::vector<double> v;
  for (const auto& [k, x] : m) v.push_back(x);
  return v;
}

// The case name without Google Benchmark's suffixes (/iterations:N/manual_time): the entries
// of one case across rounds, its aggregates and the reports all use the same name.
void CleanName(Run* r) {
  r->run_name.min_time.clear();
  r->run_name.iterations.clear();
  r->run_name.repetitions.clear();
  r->run_name.time_type.clear();
}

Run Aggregate(const Run& like, std::string name, double value, benchmark::StatisticUnit unit) {
  Run a = like;
  a.run_type = Run::RT_Aggregate;
  a.aggregate_name = std::move(name);
  a.aggregate_unit = unit;
  a.repetition_index = Run::no_repetition_index;
  a.iterations = 1;
  a.counters.clear();
  CleanName(&a);
  // Time aggregates are printed as accumulated time * unit multiplier / iterations; percentage
  // aggregates are printed as they are.
  double scale = unit == benchmark::kTime ? 1e-9 : 1.0;  // the cases report in ns
  a.real_accumulated_time = value * scale;
  a.cpu_accumulated_time = value * scale;
  return a;
}

void AddAggregates(const Case& c, const std::map<int, Run>& runs, std::vector<Run>* out) {
  std::vector<double> v = Values(Samples(runs));
  if (v.empty()) return;
  const Run& like = runs.begin()->second;
  Summary s = Summarize(v);
  bool exceeded = s.n > 1 && s.cv > CvBound();
  std::string label = c.id + (exceeded ? " cv-exceeded" : "");
  for (auto [name, value, unit] : {std::tuple{"mean", s.mean, benchmark::kTime},
                                   std::tuple{"median", s.median, benchmark::kTime},
                                   std::tuple{"stddev", s.stddev, benchmark::kTime},
                                   std::tuple{"cv", s.cv, benchmark::kPercentage}}) {
    Run a = Aggregate(like, name, value, unit);
    a.iterations = static_cast<int64_t>(s.n);
    a.repetitions = static_cast<int64_t>(s.n);  // readers take n for the mean's interval from it
    if (unit == benchmark::kTime) {
      a.real_accumulated_time *= static_cast<double>(s.n);
      a.cpu_accumulated_time *= static_cast<double>(s.n);
    }
    a.report_label = label;
    a.counters["cv_exceeded"] = exceeded ? 1 : 0;
    a.counters["cv_bound"] = CvBound();
    out->push_back(std::move(a));
  }
}

}  // namespace

std::string_view ModeName(Mode m) {
  switch (m) {
    case Mode::kSmoke:
      return "smoke";
    case Mode::kShort:
      return "short";
    case Mode::kFull:
      return "full";
  }
  return "?";
}

const Options& Opts() { return g_options; }

void SkipAll(std::string reason) { g_skipped = std::move(reason); }

void Skip(benchmark::State& state, const Error& e, std::string_view reason) {
  state.SkipWithError(fmt::format("{}: {}", reason, e.Message()).c_str());
}

void Add(Case c) {
  if (!g_options.filter.empty() && !std::regex_search(c.name, std::regex(g_options.filter))) return;
  auto fn = c.fn;
  benchmark::internal::Benchmark* b =
      benchmark::RegisterBenchmark(c.name.c_str(), [fn](benchmark::State& s) { fn(s); });
  b->Unit(benchmark::kNanosecond);
  if (c.iterations > 0) {
    b->Iterations(c.iterations);
  } else {
    b->MinTime(c.min_time > 0 ? c.min_time : ByMode(0.001, 0.02, 0.2));
  }
  if (c.manual_time) {
    b->UseManualTime();
  } else {
    b->UseRealTime();
  }
  g_cases.push_back(std::move(c));
}

namespace {

// An "overhead" entry: `pct` is the overhead in percent with its 95 % interval over `pct.n`
// pairs; the label is `label`, plus " not-resolved" when the interval spans zero. The interval's
// ends are always there (lower95_pct, upper95_pct; ci95_lo_pct, ci95_hi_pct are the same
// values under the names reports/bench.py reads), and bound_pct = max(|lo|, |hi|): what an
// unresolved figure still says (|overhead| < bound_pct).
Run OverheadEntry(const Run& like, const std::string& label, const Interval& pct) {
  Run r = Aggregate(like, "overhead", pct.mean / 100.0, benchmark::kPercentage);
  r.report_label = label + (pct.Resolved() ? "" : " not-resolved");
  r.counters["overhead_pct"] = pct.mean;
  r.counters["lower95_pct"] = pct.lo;
  r.counters["upper95_pct"] = pct.hi;
  r.counters["bound_pct"] = pct.Bound();
  r.counters["ci95_lo_pct"] = pct.lo;
  r.counters["ci95_hi_pct"] = pct.hi;
  r.counters["resolved"] = pct.Resolved() ? 1 : 0;
  r.counters["pairs"] = static_cast<double>(pct.n);
  r.repetitions = static_cast<int64_t>(pct.n);
  return r;
}

void AddOverhead(const Case& c, const Collector& col, std::vector<Run>* out) {
  auto it = col.runs_.find(c.name), base = col.runs_.find(c.baseline);
  if (it == col.runs_.end() || base == col.runs_.end()) return;
  std::map<int, double> a = Samples(it->second), b = Samples(base->second);
  std::vector<double> pa, pb;
  for (const auto& [round, x] : a) {
    if (auto j = b.find(round); j != b.end()) {
      pa.push_back(x);
      pb.push_back(j->second);
    }
  }
  if (pa.empty()) return;
  Interval d = PairedDifference(pa, pb);
  double base_mean = Summarize(pb).mean;
  auto pct = [&](double ns) { return base_mean != 0 ? 100.0 * ns / base_mean : 0.0; };
  Run r = OverheadEntry(it->second.begin()->second, fmt::format("{} vs:{}", c.id, c.baseline),
                        Interval{pct(d.mean), pct(d.lo), pct(d.hi), d.n});
  r.counters["delta_ns"] = d.mean;
  r.counters["lower95_ns"] = d.lo;
  r.counters["upper95_ns"] = d.hi;
  r.counters["ci95_lo_ns"] = d.lo;
  r.counters["ci95_hi_ns"] = d.hi;
  out->push_back(std::move(r));
}

// The per-round values of a case's own percentage counter, as an "overhead" entry.
void AddCounterInterval(const Case& c, const std::map<int, Run>& runs, std::vector<Run>* out) {
  std::vector<double> pct;
  for (const auto& [round, r] : runs) {
    auto it = r.counters.find(c.percent_counter);
    if (r.error_occurred || it == r.counters.end()) continue;
    pct.push_back(it->second.value);
  }
  if (pct.empty()) return;
  out->push_back(OverheadEntry(runs.begin()->second, c.id, MeanInterval(pct)));
}

// The counters of a slope entry: the fitted cost per level and, for a scale curve (a group
// whose cases declare a shape), the slope relative to the base cost and the intended shape.
void SlopeCounters(const Interval& k, const Interval& rel, const std::vector<double>& levels,
                   const std::string& shape, double base_ns, Run* r) {
  r->counters["ns_per_level"] = k.mean;
  r->counters["lower95_ns"] = k.lo;
  r->counters["upper95_ns"] = k.hi;
  r->counters["bound_ns"] = k.Bound();
  r->counters["ci95_lo_ns"] = k.lo;
  r->counters["ci95_hi_ns"] = k.hi;
  r->counters["resolved"] = k.Resolved() ? 1 : 0;
  r->counters["levels"] = static_cast<double>(levels.size());
  r->counters["level_min"] = levels.front();
  r->counters["level_max"] = levels.back();
  r->counters["rounds"] = static_cast<double>(k.n);
  if (shape.empty()) return;
  r->counters["base_ns"] = base_ns;
  r->counters["slope_rel_pct"] = rel.mean;
  r->counters["slope_rel_lower95_pct"] = rel.lo;
  r->counters["slope_rel_upper95_pct"] = rel.hi;
  r->counters["slope_rel_resolved"] = rel.Resolved() ? 1 : 0;
  r->counters["expect_flat"] = shape == "flat" ? 1 : 0;
  r->counters["expect_linear"] = shape == "linear" ? 1 : 0;
}

void AddSlopes(const Collector& col, std::vector<Run>* out) {
  std::map<std::string, std::vector<const Case*>> groups;
  for (const Case& c : g_cases) {
    // A level with no sample at all (skipped: e.g. depth 1 on cgroup v2) leaves the fit, not
    // every round with it.
    if (!c.slope_group.empty() && c.level >= 1 && col.runs_.contains(c.name) &&
        !Samples(col.runs_.at(c.name)).empty()) {
      groups[c.slope_group].push_back(&c);
    }
  }
  for (auto& [group, cases] : groups) {
    if (cases.size() < 2) continue;
    std::ranges::stable_sort(cases, {}, &Case::level);
    // Rounds in which every level has a sample.
    std::vector<std::map<int, double>> samples;
    for (const Case* c : cases) samples.push_back(Samples(col.runs_.at(c->name)));
    std::vector<std::vector<double>> by_level(cases.size());
    std::vector<double> levels;
    for (const Case* c : cases) levels.push_back(c->level);
    for (const auto& [round, x] : samples.front()) {
      bool all = std::ranges::all_of(samples, [&](const auto& m) { return m.contains(round); });
      for (std::size_t j = 0; all && j < cases.size(); ++j)
        by_level[j].push_back(samples[j].at(round));
    }
    if (by_level.front().empty()) continue;
    Interval k = MeanSlope(by_level, levels);
    Interval rel = MeanRelativeSlope(by_level, levels);
    Run r = Aggregate(col.runs_.at(cases.front()->name).begin()->second, "slope", k.mean,
                      benchmark::kTime);
    r.run_name = benchmark::BenchmarkName{};
    r.run_name.function_name = group + "/slope";
    r.report_label = cases.front()->id + (k.Resolved() ? "" : " not-resolved");
    SlopeCounters(k, rel, levels, cases.front()->shape, Summarize(by_level.front()).mean, &r);
    out->push_back(std::move(r));
  }
}

std::vector<Run> Assemble(const Collector& col) {
  std::vector<Run> out;
  for (const Case& c : g_cases) {
    auto it = col.runs_.find(c.name);
    if (it == col.runs_.end()) continue;
    for (const auto& [round, r] : it->second) {
      Run x = r;
      CleanName(&x);
      x.repetition_index = round;
      x.repetitions = Rounds();
      // An errored round says which kind it is: the host lacks something, or the measurement
      // broke (error_message starts with the machine-readable reason either way).
      x.report_label = c.id + (!r.error_occurred               ? ""
                               : IsSkipReason(r.error_message) ? " skipped"
                                                               : " errored");
      out.push_back(std::move(x));
    }
    AddAggregates(c, it->second, &out);
    if (!c.baseline.empty()) AddOverhead(c, col, &out);
    if (!c.percent_counter.empty()) AddCounterInterval(c, it->second, &out);
  }
  AddSlopes(col, &out);
  return out;
}

// The interval an entry's counters hold (mean, ends, the number of samples behind it).
Interval CounterInterval(const Run& r, const char* mean, const char* lo, const char* hi) {
  const auto& k = r.counters;
  const char* n = k.contains("pairs") ? "pairs" : "rounds";
  return {k.at(mean).value, k.at(lo).value, k.at(hi).value,
          static_cast<std::size_t>(k.at(n).value)};
}

std::string Describe(const Run& r) {
  if (r.aggregate_name == "overhead") {
    return DescribeInterval(CounterInterval(r, "overhead_pct", "lower95_pct", "upper95_pct"), "%",
                            "overhead");
  }
  if (r.aggregate_name == "slope") {
    std::string out = DescribeInterval(
        CounterInterval(r, "ns_per_level", "lower95_ns", "upper95_ns"), "ns/level", "slope");
    if (!r.counters.contains("slope_rel_pct")) return out;
    const char* shape = r.counters.at("expect_flat").value ? "flat" : "linear";
    return fmt::format("{}; relative {} (expect {})", out,
                       DescribeInterval(CounterInterval(r, "slope_rel_pct", "slope_rel_lower95_pct",
                                                        "slope_rel_upper95_pct"),
                                        "%", "slope"),
                       shape);
  }
  if (r.aggregate_name == "cv") return fmt::format("cv {:.2f} %", 100 * r.real_accumulated_time);
  return fmt::format("{:.1f} ns", r.GetAdjustedRealTime());
}

void PrintSummary(const std::vector<Run>& runs) {
  for (const Run& r : runs) {
    if (r.run_type != Run::RT_Aggregate || r.aggregate_name == "median" ||
        r.aggregate_name == "stddev")
      continue;
    bool flagged = r.report_label.find("cv-exceeded") != std::string::npos;
    std::fprintf(stderr, "%-64s %-8s %s%s\n", r.benchmark_name().c_str(), r.aggregate_name.c_str(),
                 Describe(r).c_str(), flagged && r.aggregate_name == "cv" ? "  CV-EXCEEDED" : "");
  }
}

int WriteJson(const Collector& col, const std::vector<Run>& runs) {
  std::ostringstream text;
  benchmark::JSONReporter json;
  json.SetOutputStream(&text);
  json.SetErrorStream(&std::cerr);
  // No case ran (a skipped binary): the machine's context is read here instead.
  json.ReportContext(col.context() ? *col.context() : benchmark::BenchmarkReporter::Context());
  json.ReportRuns(runs);
  json.Finalize();
  if (g_options.json_path.empty() || g_options.json_path == "-") {
    std::cout << text.str();
    return 0;
  }
  if (auto st = WriteFileAtomic(g_options.json_path, text.str()); !st) {
    std::fprintf(stderr, "cannot write %s: %s\n", g_options.json_path.c_str(),
                 st.error().Message().c_str());
    return 1;
  }
  return 0;
}

int RunRounds(std::string_view binary) {
  Collector col;
  const int rounds = Rounds();
  // One untimed round first (not in smoke mode): the first touch of memory a VM's host has not
  // backed yet, instruction translation under TCG and cold caches would otherwise land on
  // whichever case runs first.
  const int warm_up = g_options.mode == Mode::kSmoke ? 0 : 1;
  auto start = std::chrono::steady_clock::now();
  for (int round = -warm_up; round < rounds; ++round) {
    col.set_round(round);
    // Odd rounds run backwards: a case and its neighbour swap order every round.
    for (std::size_t k = 0; k < g_cases.size(); ++k) {
      const Case& c = g_cases[round % 2 ? g_cases.size() - 1 - k : k];
      col.set_case(c.name);
      if (benchmark::RunSpecifiedBenchmarks(&col, "^" + RegexEscape(c.name) + "(/|$)") == 0) {
        std::fprintf(stderr, "%s: not run\n", c.name.c_str());
      }
    }
    // The figures so far, so that a run killed mid-way still leaves its finished rounds.
    if (!g_options.json_path.empty() && g_options.json_path != "-" && round >= 0 &&
        round + 1 < rounds) {
      (void)WriteJson(col, Assemble(col));
    }
    if (round >= 0 && (g_options.mode == Mode::kFull || rounds > 3)) {
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::fprintf(stderr, "%.*s: round %d/%d done, %.0f s elapsed, ~%.0f s left\n",
                   static_cast<int>(binary.size()), binary.data(), round + 1, rounds, s,
                   s / (round + 1 + warm_up) * (rounds - round - 1));
    } else if (round < 0 && g_options.mode == Mode::kFull) {
      std::fprintf(stderr, "%.*s: warm-up round done\n", static_cast<int>(binary.size()),
                   binary.data());
    }
  }
  std::vector<Run> runs = Assemble(col);
  PrintSummary(runs);
  return WriteJson(col, runs);
}

}  // namespace

int Main(int argc, char** argv, std::string_view binary, const std::function<Status()>& setup) {
  if (std::string problem = ParseFlags(&argc, argv); !problem.empty())
    return Usage(binary, problem);
  benchmark::Initialize(&argc, argv);
  if (argc > 1) return Usage(binary, fmt::format("unknown option `{}`", argv[1]));
  benchmark::AddCustomContext("ckc_mode", std::string(ModeName(g_options.mode)));
  benchmark::AddCustomContext("ckc_rounds", std::to_string(Rounds()));
  benchmark::AddCustomContext("ckc_cv_bound", fmt::format("{}", CvBound()));
  // Set by the VM runner (kvm / tcg); emulated (TCG) figures are never compared with others.
  const char* accel = std::getenv("CKC_MACHINE_ACCEL");
  benchmark::AddCustomContext("ckc_accel", accel && *accel ? accel : "host");
  if (auto st = setup(); !st) {
    std::fprintf(stderr, "%.*s: setup: %s\n", static_cast<int>(binary.size()), binary.data(),
                 st.error().Message().c_str());
    return 1;
  }
  if (!g_skipped.empty()) {
    std::fprintf(stderr, "%.*s: skipped: %s\n", static_cast<int>(binary.size()), binary.data(),
                 g_skipped.c_str());
    if (g_options.list) return 0;
    benchmark::AddCustomContext("ckc_skipped", g_skipped);
    return WriteJson(Collector(), {});
  }
  if (g_options.list) {
    for (const Case& c : g_cases) std::printf("%s %s\n", c.name.c_str(), c.id.c_str());
    return 0;
  }
  int rc = RunRounds(binary);
  // What the cases hold (groups, mounts, devices, namespaces) goes now, before the caller
  // closes the run, not at static destruction after it.
  benchmark::ClearRegisteredBenchmarks();
  g_cases.clear();
  benchmark::Shutdown();
  return rc;
}

}  // namespace ckc::bench

#include "results_listener.h"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <algorithm>
#include <chrono>
#include <cstdlib>

#include "ckc_test.h"
#include "fd.h"
#include "kernel.h"
#include "run_scope.h"

namespace ckc::test {

namespace {

std::string NowUtc() {
  std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", fmt::gmtime(now));
}

std::string Property(const ::testing::TestResult& result, const std::string& key) {
  for (int i = 0; i < result.test_property_count(); ++i) {
    const auto& p = result.GetTestProperty(i);
    if (key == p.key()) return p.value();
  }
  return {};
}

constexpr size_t kMaxDetails = 4000;

ResultsListener* g_listener = nullptr;

}  // namespace

void NoteBehaviour(const Row& row) {
  if (g_listener) g_listener->NoteRunning(row);
}

void ResultsListener::NoteRunning(const Row& row) {
  if (doc_["results"].empty()) return;
  nlohmann::json& entry = doc_["results"].back();
  entry["id"] = row.id;
  entry["source"] = row.source;
  entry["sentence"] = row.sentence;
  if (*row.since) entry["since"] = row.since;
  Flush();
}

SkipReason ParseSkipMessage(const std::string& message) {
  // The first token is the reason when it reads "<kind>:<what>" with no spaces.
  auto end = message.find_first_of(" \n");
  std::string first = message.substr(0, end);
  auto colon = first.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == first.size()) {
    return {"unspecified", message};
  }
  std::string rest = end == std::string::npos ? "" : message.substr(end + 1);
  while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\n')) rest.erase(0, 1);
  return {first, rest};
}

nlohmann::json RunHeader(const std::string& suite, const std::vector<std::string>& argv) {
  KernelRelease rel = GetKernelRelease();
  const KernelConfig& cfg = RunningKernelConfig();
  auto layout = CurrentCgroupLayout();
  SwapInfo swap = CurrentSwap();
  const char* accel = std::getenv("CKC_MACHINE_ACCEL");
  const RunScope* run = RunScope::Current();
  return {
      {"schema", 2},
      {"run",
       {{"id", run ? run->id() : ""},
        {"started", NowUtc()},
        {"finished", nullptr},
        {"tool_version", CKC_VERSION},
        {"suites", {suite}},
        {"argv", argv}}},
      {"kernel",
       {{"release", rel.release},
        {"version", rel.version},
        {"arch", rel.arch},
        {"config_source", cfg.source},
        {"cmdline", KernelCmdline()},
        {"cgroup_mode", layout ? std::string(CgroupModeName(layout->mode)) : "none"},
        {"lsms", ActiveLsms()},
        {"swap",
         {{"total_kib", swap.total_kib}, {"free_kib", swap.free_kib}, {"devices", swap.devices}}}}},
      {"machine",
       {{"accel", (accel && *accel) ? accel : "host"},
        {"cpus", OnlineCpus()},
        {"memory_kib", MemTotalKib()}}},
      {"results", nlohmann::json::array()},
      {"benchmarks", nlohmann::json::array()},
  };
}

ResultsListener::ResultsListener(std::string path, std::string suite, std::vector<std::string> argv)
    : path_(std::move(path)), suite_(std::move(suite)), doc_(RunHeader(suite_, argv)) {
  g_listener = this;
}

ResultsListener::~ResultsListener() {
  if (g_listener == this) g_listener = nullptr;
}

bool ResultsListener::WriteInitial(std::string* error) {
  auto st = WriteFileAtomic(path_, doc_.dump(2) + "\n");
  if (!st) *error = st.error().Message();
  return st.has_value();
}

namespace {

std::string FailureText(const ::testing::TestResult& r) {
  std::string details;
  for (int i = 0; i < r.total_part_count(); ++i) {
    const auto& part = r.GetTestPartResult(i);
    if (!part.failed()) continue;
    if (!details.empty()) details += "\n";
    details += fmt::format("{}:{}: {}", part.file_name() ? part.file_name() : "?",
                           part.line_number(), part.message());
  }
  return details;
}

// Whether the Broken() mark came before every failure of `r`.
bool BrokenFirst(const ::testing::TestResult& r) {
  std::string at = Property(r, "broken_at");
  if (Property(r, "broken").empty() || at.empty()) return false;
  int mark = std::atoi(at.c_str());
  for (int i = 0; i < r.total_part_count() && i < mark; ++i) {
    if (r.GetTestPartResult(i).failed()) return false;
  }
  return true;
}

}  // namespace

Verdict Judge(const ::testing::TestResult& r) {
  if (r.Skipped()) {
    Verdict v{"skip", "", ""};
    for (int i = 0; i < r.total_part_count(); ++i) {
      if (!r.GetTestPartResult(i).skipped()) continue;
      SkipReason s = ParseSkipMessage(r.GetTestPartResult(i).message());
      v.reason = s.reason;
      v.details = s.details;
    }
    return v;
  }
  if (!r.Failed()) return {"pass", "", ""};
  if (BrokenFirst(r)) return {"broken", "setup", FailureText(r)};
  return {"fail", "", FailureText(r)};
}

nlohmann::json ResultsListener::Entry(const ::testing::TestInfo& info) const {
  const ::testing::TestResult& r = *info.result();
  auto [outcome, reason, details] = Judge(r);
  if (details.size() > kMaxDetails) details = details.substr(0, kMaxDetails) + " [...]";
  nlohmann::json entry = {{"id", Property(r, "behaviour")},
                          {"test", fmt::format("{}.{}", info.test_suite_name(), info.name())},
                          {"suite", suite_},
                          {"outcome", outcome},
                          {"reason", reason},
                          {"details", details},
                          {"source", Property(r, "source")},
                          {"sentence", Property(r, "sentence")},
                          {"duration_ms", r.elapsed_time()}};
  if (std::string since = Property(r, "since"); !since.empty()) entry["since"] = since;
  // What a test recorded besides its row (an ABI version, a part of the row the kernel could not
  // run, which semantics it saw), so a report shows it too.
  nlohmann::json extra = nlohmann::json::object();
  for (int i = 0; i < r.test_property_count(); ++i) {
    const auto& p = r.GetTestProperty(i);
    static constexpr std::string_view kRowKeys[] = {"behaviour", "source", "sentence", "since",
                                                    "broken", "broken_at"};
    if (std::ranges::find(kRowKeys, std::string_view(p.key())) == std::end(kRowKeys)) {
      extra[p.key()] = p.value();
    }
  }
  if (!extra.empty()) entry["properties"] = extra;
  return entry;
}

void ResultsListener::OnTestStart(const ::testing::TestInfo& info) {
  doc_["results"].push_back({{"id", ""},
                             {"test", fmt::format("{}.{}", info.test_suite_name(), info.name())},
                             {"suite", suite_},
                             {"outcome", "crash"},
                             {"reason", ""},
                             {"details", "the test process died while this test was running"},
                             {"source", ""},
                             {"duration_ms", 0}});
  Flush();
}

void ResultsListener::OnTestEnd(const ::testing::TestInfo& info) {
  doc_["results"].back() = Entry(info);
  Flush();
}

void ResultsListener::OnTestProgramEnd(const ::testing::UnitTest&) {
  doc_["run"]["finished"] = NowUtc();
  Flush();
}

void ResultsListener::Flush() {
  if (auto st = WriteFileAtomic(path_, doc_.dump(2) + "\n"); !st) {
    std::fprintf(stderr, "ckc: cannot write results: %s\n", st.error().Message().c_str());
  }
}

}  // namespace ckc::test

// The host guard: HostGuard.Snapshot records the host before the suites run and
// HostGuard.Unchanged compares after they ran. What is compared is the picture of guard.h
// (uts names, guarded sysctls, swap, zram and loop devices, cgroup2 root subtree_control, groups
// named ckc-* at any depth with their processes, dead runs' state, links with flags, MTU,
// addresses and routes, mounts line by line), each difference named ("sysctl vm.swappiness:
// 60 -> 10"); and the sweep log since the snapshot: a run that ended normally but left
// something for a sweep fails the guard, a sweep after a run that died is only reported.
//
// The snapshot lives in $CKC_GUARD_FILE (default: <state base>/guard.json). This binary does not
// sweep at start-up (main's sweep is off for it), so leftovers of a killed run are seen here;
// Snapshot sweeps them first, the way every run starts.
#include <fmt/format.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "ckc_test.h"
#include "fd.h"
#include "guard.h"
#include "run_scope.h"

namespace ckc::test {
namespace {

using nlohmann::json;

std::string GuardFile() {
  const char* env = std::getenv("CKC_GUARD_FILE");
  return (env && *env) ? env : RunStateBase() + "/guard.json";
}

std::string Lines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += "\n  " + l;
  return out;
}

TEST(HostGuard, Snapshot) {
  SweepReport swept = SweepDeadRuns();
  for (const auto& e : swept.log) std::printf("swept before the run: %s\n", e.Describe().c_str());
  EXPECT_TRUE(swept.failures.empty())
      << "could not sweep: " << ::testing::PrintToString(swept.failures);
  ASSERT_OK_AND_ASSIGN(HostFacts facts, ReadHostFacts());
  json doc = PictureToJson(MakePicture(facts));
  SweepLogMark mark = SweepLogEnd();  // after this step's own sweep
  doc["sweep_log"] = {{"inode", mark.inode}, {"offset", mark.offset}};
  ASSERT_OK(WriteFileAtomic(GuardFile(), doc.dump(2)));
}

TEST(HostGuard, Unchanged) {
  ASSERT_OK_AND_ASSIGN(std::string text, ReadFile(GuardFile()));
  json doc = json::parse(text, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << GuardFile() << " is not JSON";
  ASSERT_OK_AND_ASSIGN(HostPicture before, PictureFromJson(doc));
  ASSERT_OK_AND_ASSIGN(HostFacts facts, ReadHostFacts());
  HostPicture after = MakePicture(facts);
  std::vector<std::string> changes = ComparePictures(before, after);
  EXPECT_TRUE(changes.empty()) << DescribeChanges(changes);
  std::vector<std::string> left;
  for (const char* section : {"ckc cgroup", "ckc leftover"}) {
    for (const auto& [key, value] : after[section]) left.push_back(key + " " + value);
  }
  EXPECT_TRUE(left.empty()) << "left behind by runs that are gone:" << Lines(left);

  json log = doc.value("sweep_log", json::object());
  SweepLogMark mark{log.value("inode", uint64_t{0}), log.value("offset", uint64_t{0})};
  SweepVerdict sweeps = JudgeSweeps(SweepEntriesSince(mark));
  for (const auto& r : sweeps.reports) std::printf("swept after a run that died: %s\n", r.c_str());
  if (!sweeps.reports.empty()) RecordProperty("swept_after_died", Lines(sweeps.reports));
  EXPECT_TRUE(sweeps.failures.empty())
      << "runs that ended normally left something behind:" << Lines(sweeps.failures);
  // The snapshot stays: `ctest --repeat until-fail:N` runs this comparison again without a new
  // Snapshot, and the fixture's next setup overwrites it.
}

}  // namespace
}  // namespace ckc::test

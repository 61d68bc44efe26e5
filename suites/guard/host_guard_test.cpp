// The host guard: HostGuard.Snapshot records the host before the suites run and
// HostGuard.Unchanged compares after they ran. What is compared: hostname, NIS domain name, the
// links of the initial network namespace, the mount table, and the cgroups and state
// directories of ckc runs that are no longer alive (which must be none).
//
// The snapshot lives in $CKC_GUARD_FILE (default: <state base>/guard.json). This binary does not
// sweep at start-up (main's sweep is off for it), so leftovers of a killed run are seen here;
// Snapshot sweeps them first, the way every run starts.
#include <net/if.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "ckc_test.h"
#include "fd.h"
#include "kernel.h"
#include "run_scope.h"

namespace ckc::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string GuardFile() {
  const char* env = std::getenv("CKC_GUARD_FILE");
  return (env && *env) ? env : RunStateBase() + "/guard.json";
}

std::vector<std::string> Links() {
  std::vector<std::string> out;
  if (struct if_nameindex* list = if_nameindex()) {
    for (struct if_nameindex* i = list; i->if_index != 0; ++i)
      out.push_back(fmt::format("{}:{}", i->if_index, i->if_name));
    if_freenameindex(list);
  }
  return out;
}

// Every cgroup or state directory of a ckc run that is not alive, with its subtree.
std::vector<std::string> DeadRunLeftovers() {
  std::vector<std::string> out;
  auto scan = [&](const std::string& base) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(base, ec)) {
      std::string name = e.path().filename();
      if (!e.is_directory(ec) || !name.starts_with("ckc-")) continue;
      struct stat st {};
      if (::stat(e.path().c_str(), &st) != 0 || st.st_uid != ::geteuid()) continue;
      std::string id = name.substr(4);
      if (RunIsAlive(id) || (RunScope::Current() && RunScope::Current()->id() == id)) continue;
      out.push_back(e.path());
      for (const auto& sub : fs::recursive_directory_iterator(e.path(), ec)) {
        if (sub.is_directory(ec)) out.push_back(sub.path());
      }
    }
  };
  if (auto layout = CurrentCgroupLayout()) {
    for (const auto& m : layout->mounts) scan(m.path);
  }
  scan(RunStateBase());
  std::ranges::sort(out);
  return out;
}

json Snapshot() {
  utsname u{};
  ::uname(&u);
  return {{"hostname", u.nodename},
          {"domainname", u.domainname},
          {"links", Links()},
          {"mountinfo", ReadFile("/proc/self/mountinfo").value_or("")},
          {"leftovers", DeadRunLeftovers()}};
}

TEST(HostGuard, Snapshot) {
  SweepReport swept = SweepDeadRuns();
  for (const auto& r : swept.removed) std::printf("swept leftover of a dead run: %s\n", r.c_str());
  EXPECT_TRUE(swept.failures.empty())
      << "could not sweep: " << ::testing::PrintToString(swept.failures);
  ASSERT_OK(WriteFileAtomic(GuardFile(), Snapshot().dump(2)));
}

TEST(HostGuard, Unchanged) {
  ASSERT_OK_AND_ASSIGN(std::string text, ReadFile(GuardFile()));
  json before = json::parse(text, nullptr, false);
  ASSERT_FALSE(before.is_discarded()) << GuardFile() << " is not JSON";
  json after = Snapshot();
  for (const char* key : {"hostname", "domainname", "links", "mountinfo"}) {
    EXPECT_EQ(before[key], after[key]) << "the host's " << key << " changed during the run";
  }
  EXPECT_TRUE(after["leftovers"].empty())
      << "left behind by runs that are gone: " << after["leftovers"].dump();
  // The snapshot stays: `ctest --repeat until-fail:N` runs this comparison again without a new
  // Snapshot, and the fixture's next setup overwrites it.
}

}  // namespace
}  // namespace ckc::test

// The verdict rules end to end: runs the fixture tests of verdict_fixtures.cpp in their own
// process with --ckc-results and checks the outcome the results listener wrote for each
// (setup error -> broken, expectation failure -> fail, requirement -> skip, ...).
#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "ckc_test.h"
#include "fd.h"

namespace ckc::test {
namespace {

using ::testing::HasSubstr;

struct Written {
  std::string outcome, reason, details;
};

// Runs the fixtures matching `filter`; what the results file says of each, by test name.
Result<std::map<std::string, Written>> RunFixtures(const std::string& filter) {
  std::string results = fmt::format("{}/{}.json", TestDir(), filter.substr(0, filter.find('.')));
  std::string log = results + ".log";
  CKC_TRY(child, Spawn({}, [&] {
            int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
            if (out >= 0) ::dup2(out, 1), ::dup2(out, 2);
            std::string f = "--gtest_filter=" + filter, r = "--ckc-results=" + results;
            ::execl(CKC_VERDICT_FIXTURES, CKC_VERDICT_FIXTURES, f.c_str(), r.c_str(), nullptr);
            return 127;
          }));
  CKC_TRY(status, child.Wait(std::chrono::seconds(60)));
  if (!status.exited || status.code > 1)
    return Failure("run", CKC_VERDICT_FIXTURES, status.Describe() + "; see " + log);
  CKC_TRY(text, ReadFile(results));
  // The document must outlive the loop (GCC 12 lacks P2718's lifetime extension).
  const nlohmann::json doc = nlohmann::json::parse(text);
  std::map<std::string, Written> out;
  for (const auto& e : doc["results"]) {
    out[e["test"].get<std::string>()] = {e["outcome"], e["reason"], e["details"]};
  }
  return out;
}

TEST(Verdict, ListenerJudgesEachFixture) {
  ASSERT_OK_AND_ASSIGN(auto seen, RunFixtures("Verdict.*"));
  EXPECT_EQ(seen["Verdict.Pass"].outcome, "pass");

  const Written& broken = seen["Verdict.SetupErrorIsBroken"];
  EXPECT_EQ(broken.outcome, "broken") << broken.details;
  EXPECT_EQ(broken.reason, "setup");
  EXPECT_THAT(broken.details, HasSubstr("setup: clone3(`flags=0x4000000`): EPERM"));
  EXPECT_THAT(broken.details, ::testing::Not(HasSubstr("not reached")));

  const Written& fail = seen["Verdict.ExpectationFailureIsFail"];
  EXPECT_EQ(fail.outcome, "fail") << fail.details;
  EXPECT_THAT(fail.details, HasSubstr("the kernel did something else"));

  const Written& skip = seen["Verdict.RequirementIsSkip"];
  EXPECT_EQ(skip.outcome, "skip");
  EXPECT_EQ(skip.reason, "needs:root");

  const Written& first = seen["Verdict.FailureBeforeBrokenIsFail"];
  EXPECT_EQ(first.outcome, "fail") << "an expectation that failed before the broken step wins";
  EXPECT_THAT(first.details, HasSubstr("setup: read(`/fixture`): EIO"));

  const Written& child = seen["Verdict.ChildSetupIsBroken"];
  EXPECT_EQ(child.outcome, "broken") << child.details;
  EXPECT_THAT(child.details, HasSubstr("mount(`/fixture`): EACCES"));

  const Written& cond = seen["Verdict.SetupConditionIsBroken"];
  EXPECT_EQ(cond.outcome, "broken") << cond.details;
  EXPECT_THAT(cond.details, HasSubstr("the fixture's precondition (1 + 1 == 3 is false)"));
}

TEST(Verdict, NamespaceLimitOfZeroSkipsNamingTheSysctl) {
  ASSERT_OK_AND_ASSIGN(auto seen, RunFixtures("VerdictQuota.*"));
  const Written& quota = seen["VerdictQuota.NamespaceLimitIsSkip"];
  if (quota.outcome == "skip" && quota.reason == "needs:userns") {
    GTEST_SKIP() << "needs:userns (the fixture could not make its own user namespace: "
                 << quota.details << ")";
  }
  EXPECT_EQ(quota.outcome, "skip") << quota.details;
  EXPECT_EQ(quota.reason, "sysctl:user.max_uts_namespaces") << quota.details;
  EXPECT_THAT(quota.details, HasSubstr("ENOSPC"));
}

}  // namespace
}  // namespace ckc::test

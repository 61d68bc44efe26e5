// ResultsListener: a GoogleTest event listener that writes the results JSON of this run
// (reports/SCHEMA.md), rewriting the file atomically after every test. A test is recorded as
// `crash` when it starts and replaced by its real outcome when it ends, so a process that dies
// mid-test leaves the truth behind.
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace ckc::test {

struct Row;  // ckc_test.h

// Splits a skip message "needs:root (euid 1000)" into reason "needs:root" and details.
struct SkipReason {
  std::string reason;
  std::string details;
};
SkipReason ParseSkipMessage(const std::string& message);

// The verdict on a finished test (BEHAVIOURS.md "Outcome rules"):
//   skip    it skipped and nothing failed; reason and details from the skip message;
//   broken  it failed, it carries a Broken() mark (property "broken") and no failure came before
//           the mark (property "broken_at": the parts before it): a step before the behaviour
//           broke. reason "setup"; details the step with its errno first, then later failures;
//   fail    any other failure, also a broken mark after a failed expectation (the kernel was seen
//           doing something else first; that verdict stands); details every failure;
//   pass    otherwise.
struct Verdict {
  std::string outcome, reason, details;
};
Verdict Judge(const ::testing::TestResult& result);

class ResultsListener : public ::testing::EmptyTestEventListener {
 public:
  ResultsListener(std::string path, std::string suite, std::vector<std::string> argv);
  ~ResultsListener() override;

  // The running test named its catalogue row (CKC_BEHAVIOUR): record it before anything can crash.
  void NoteRunning(const Row& row);

  // Writes the run skeleton (no results yet); reports whether the path is writable.
  [[nodiscard]] bool WriteInitial(std::string* error);

  void OnTestStart(const ::testing::TestInfo& info) override;
  void OnTestEnd(const ::testing::TestInfo& info) override;
  void OnTestProgramEnd(const ::testing::UnitTest& unit) override;

 private:
  void Flush();
  nlohmann::json Entry(const ::testing::TestInfo& info) const;

  std::string path_;
  std::string suite_;
  nlohmann::json doc_;
};

// The run/kernel/machine header of a results file, for this process and machine.
nlohmann::json RunHeader(const std::string& suite, const std::vector<std::string>& argv);

}  // namespace ckc::test

// main() of every ckc suite binary: GoogleTest plus the run scope (sweeps what dead runs left,
// removes what this run made) and the results listener.
//
//   ckc-suite-namespaces [gtest flags] [--ckc-results=FILE]     (or $CKC_RESULTS=FILE)
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "results_listener.h"
#include "run_scope.h"

namespace {

int Usage(const char* prog, const std::string& problem) {
  std::fprintf(stderr, "%s: %s (see --help; ckc options: --ckc-results=FILE)\n", prog,
               problem.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> original(argv, argv + argc);
  ::testing::InitGoogleMock(&argc, argv);
  std::string results;
  if (const char* env = std::getenv("CKC_RESULTS"); env && *env) results = env;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.starts_with("--ckc-results=")) {
      results = arg.substr(14);
      if (results.empty()) return Usage(argv[0], "--ckc-results needs a file name");
    } else {
      return Usage(argv[0], "unknown option `" + arg + "`");
    }
  }

  auto run = ckc::RunScope::Open();
  if (!run) {
    std::fprintf(stderr, "%s: cannot open the run scope: %s\n", argv[0],
                 run.error().Message().c_str());
    return 2;
  }
#ifndef CKC_NO_SWEEP
  ckc::SweepReport swept = ckc::SweepDeadRuns();
  for (const auto& f : swept.failures) std::fprintf(stderr, "ckc: sweep: %s\n", f.c_str());
#endif

  if (!results.empty()) {
    auto* listener = new ckc::test::ResultsListener(results, CKC_SUITE_NAME, original);
    std::string error;
    if (!listener->WriteInitial(&error)) {
      delete listener;
      (*run)->Close();
      std::fprintf(stderr, "%s: cannot write results to `%s`: %s\n", argv[0], results.c_str(),
                   error.c_str());
      return 2;
    }
    ::testing::UnitTest::GetInstance()->listeners().Append(listener);
  }
  int rc = RUN_ALL_TESTS();
  (*run)->Close();
  return rc;
}

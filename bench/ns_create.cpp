// bench.ns-create: clone3()+exit+wait per CLONE_NEW* flag, and with all of them together (seed D:
// a container is a process made with a set of namespace flags). "flag:none" is the plain
// clone3+exit cost the others are read against. Namespaces whose teardown is asynchronous (net)
// are only created and released here; bench.netns-teardown measures until they are gone.
#include <sched.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cstdint>
#include <string>

#include "harness.h"
#include "namespaces.h"
#include "pieces.h"
#include "process.h"

namespace ckc::bench {
namespace {

CKC_BENCH_ROW(kNsCreateRow, "bench.ns-create", "D", "BM_NsCreate",
              "the cost of clone() plus exit for each CLONE_NEW* flag alone and all of them "
              "together, against a plain clone()");

void BM_NsCreate(benchmark::State& state, uint64_t flags) {
  bool needs_root = flags != 0 && flags != CLONE_NEWUSER;
  if (needs_root && ::geteuid() != 0) {
    return Skip(state, Failure("clone3", "flags", "new namespaces need CAP_SYS_ADMIN"),
                "needs:root");
  }
  for (auto _ : state) {
    auto child = Spawn({.flags = flags}, [] { return 0; });
    if (!child) {
      // clone3 refusing a flag is the kernel lacking that namespace (e.g. CLONE_NEWTIME < 5.8).
      Skip(state, child.error(), "kernel:clone3-flag");
      break;
    }
    auto st = child->Wait(std::chrono::seconds(10));
    if (!st) {
      Skip(state, st.error(), "setup:wait");
      break;
    }
    if (!st->Exited(0)) {
      Skip(state, Failure("wait", "child", st->Describe()), "setup:child");
      break;
    }
  }
}

}  // namespace

void RegisterNsCreate() {
  auto add = [](const std::string& flag, uint64_t flags) {
    Add({.name = fmt::format("BM_NsCreate/flag:{}", flag),
         .id = kNsCreateRow.id,
         .fn = [flags](benchmark::State& s) { BM_NsCreate(s, flags); },
         .baseline = flag == "none" ? "" : "BM_NsCreate/flag:none"});
  };
  add("none", 0);
  uint64_t all = 0;
  for (NsType t : kAllNsTypes) {
    add(std::string(NsName(t)), static_cast<uint64_t>(NsCloneFlag(t)));
    all |= static_cast<uint64_t>(NsCloneFlag(t));
  }
  add("all", all);
}

}  // namespace ckc::bench

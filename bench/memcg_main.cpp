// ckc-bench-memcg: bench.memcg-fault-anon and bench.memcg-fault-file (see memcg_anon.cpp,
// memcg_file.cpp). Needs root (it makes memory cgroups and moves itself between them); the
// process is pinned to one CPU and always returns to the cgroup it started in.
#include <unistd.h>

#include <cstdio>
#include <memory>

#include "harness.h"
#include "kernel.h"
#include "memcg_cases.h"
#include "memcg_env.h"
#include "run_scope.h"

namespace {

std::unique_ptr<ckc::bench::MemcgEnv> g_env;

ckc::Status Setup() {
  if (::geteuid() != 0) {
    return ckc::Failure("memcg", "euid", "needs:root (memory cgroups are made and entered)");
  }
  CKC_TRY(run, ckc::RunScope::Open());
  (void)run;
  CKC_TRY(env, ckc::bench::MemcgEnv::Create());
  g_env = std::move(env);
  benchmark::AddCustomContext("ckc_memcg_version",
                              std::string(ckc::CgroupVersionName(g_env->version())));
  benchmark::AddCustomContext(
      "ckc_cgroup_mode",
      std::string(ckc::CgroupModeName(ckc::CurrentCgroupLayout() ? ckc::CurrentCgroupLayout()->mode
                                                                 : ckc::CgroupMode::kNone)));
  benchmark::AddCustomContext("ckc_origin_cgroup", g_env->origin());
  benchmark::AddCustomContext("ckc_pinned_cpu", std::to_string(g_env->cpu()));
  benchmark::AddCustomContext("ckc_timer", "thread-cputime per 4 KiB page");
  CKC_CHECK(ckc::bench::RegisterAnon(*g_env));
  CKC_CHECK(ckc::bench::RegisterFile(*g_env));
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  int rc = ckc::bench::Main(argc, argv, "ckc-bench-memcg", Setup);
  g_env.reset();  // back to the original cgroup, then the groups go
  if (auto* run = ckc::RunScope::Current()) run->Close();
  return rc;
}

// ckc-bench-memcg: bench.memcg-fault-anon and bench.memcg-fault-file (see memcg_anon.cpp,
// memcg_file.cpp). Needs root (it makes memory cgroups and moves itself between them); the
// process is pinned to one CPU and always returns to the cgroup it started in. On a kernel
// with the memory controller off (cgroup_disable=memory) the same loops run with no groups and
// are labelled bench.memcg-off. Without root (and accounting on) the binary is skipped.
//
// As root the process first moves into a mount namespace of its own with / made rprivate (while
// it is still single-threaded, as unshare(CLONE_NEWNS) requires): the page-cache read loop
// mounts its ext4 scratch file system there, and nothing reaches the host's mount table.
#include <sched.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cstdio>
#include <memory>

#include "harness.h"
#include "kernel.h"
#include "memcg_cases.h"
#include "memcg_env.h"
#include "mounts.h"
#include "namespaces.h"
#include "run_scope.h"

namespace {

std::unique_ptr<ckc::bench::MemcgEnv> g_env;
bool g_private_mount_ns = false;

bool EnterPrivateMountNs() {
  if (::geteuid() != 0) return false;
  if (auto st = ckc::Unshare(CLONE_NEWNS); !st) {
    std::fprintf(stderr, "ckc-bench-memcg: %s\n", st.error().Message().c_str());
    return false;
  }
  return static_cast<bool>(ckc::MakeRootPrivate());
}

ckc::Status Setup() {
  const std::string off = ckc::bench::MemoryAccountingOff();
  if (off.empty() && ::geteuid() != 0) {
    ckc::bench::SkipAll(
        fmt::format("needs:root (euid {}; memory cgroups are made and entered)", ::geteuid()));
    return {};
  }
  CKC_TRY(run, ckc::RunScope::Open());
  (void)run;
  auto env = ckc::bench::MemcgEnv::Create();
  if (!env) {
    // A v1-mode kernel built without v1 memory cgroups (6.12 in Debian) has nothing to measure.
    if (ckc::RunningKernelConfig().CompiledOut("CONFIG_MEMCG_V1")) {
      ckc::bench::SkipAll(fmt::format("config:CONFIG_MEMCG_V1 ({})", env.error().Message()));
      return {};
    }
    return std::unexpected(env.error());
  }
  g_env = std::move(*env);
  benchmark::AddCustomContext(
      "ckc_memcg_version",
      off.empty() ? std::string(ckc::CgroupVersionName(g_env->version())) : "off");
  if (!off.empty()) benchmark::AddCustomContext("ckc_memcg_off", off);
  benchmark::AddCustomContext(
      "ckc_cgroup_mode",
      std::string(ckc::CgroupModeName(ckc::CurrentCgroupLayout() ? ckc::CurrentCgroupLayout()->mode
                                                                 : ckc::CgroupMode::kNone)));
  benchmark::AddCustomContext("ckc_origin_cgroup", g_env->origin());
  benchmark::AddCustomContext("ckc_pinned_cpu", std::to_string(g_env->cpu()));
  benchmark::AddCustomContext("ckc_timer",
                              "thread-cputime per 4 KiB page (wall_ns_per_page: "
                              "steady clock around the same cycles)");
  CKC_CHECK(ckc::bench::RegisterAnon(*g_env));
  CKC_CHECK(ckc::bench::RegisterFile(*g_env, g_private_mount_ns));
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  g_private_mount_ns = EnterPrivateMountNs();
  int rc = ckc::bench::Main(argc, argv, "ckc-bench-memcg", Setup);
  g_env.reset();  // back to the original cgroup, then the groups go
  if (auto* run = ckc::RunScope::Current()) run->Close();
  return rc;
}

#include "memcg_env.h"

#include <sched.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <fmt/format.h>

#include "harness.h"
#include "kernel.h"
#include "run_scope.h"

namespace ckc::bench {

double ThreadCpuSeconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

namespace {

Status PinToCpu(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (::sched_setaffinity(0, sizeof set, &set) != 0) {
    return ErrnoError("sched_setaffinity", fmt::format("cpu {}", cpu));
  }
  return {};
}

std::string WithoutLeadingSlash(const std::string& p) {
  return p.starts_with('/') ? p.substr(1) : p;
}

}  // namespace

std::string MemoryAccountingOff() {
  if (CgroupDisabledOnCmdline(KernelCmdline(), "memory")) return "cmdline:cgroup_disable=memory";
  if (RunningKernelConfig().Has("CONFIG_MEMCG") == Tristate::kNo) return "config:CONFIG_MEMCG";
  return "";
}

Result<std::unique_ptr<MemcgEnv>> MemcgEnv::Create() {
  std::unique_ptr<MemcgEnv> env(new MemcgEnv());
  env->cpu_ = Opts().cpu >= 0 ? Opts().cpu : OnlineCpus() - 1;
  env->off_ = MemoryAccountingOff();
  if (!env->off_.empty()) {
    CKC_CHECK(PinToCpu(env->cpu_));
    return env;
  }
  CKC_TRY(sys, CgroupSystem::Current());
  env->sys_ = std::move(sys);
  CKC_TRY(version, env->sys_.VersionOf("memory"));
  env->version_ = version;
  CKC_TRY(origin, ProcCgroupPath(::getpid(), version == CgroupVersion::kV1 ? "memory" : ""));
  env->origin_path_ = origin;
  CKC_TRY(origin_cg, Cgroup::Open(env->sys_, WithoutLeadingSlash(origin), {"memory"}));
  env->origin_ = std::move(origin_cg);
  CKC_TRY(root, Cgroup::Open(env->sys_, "", {"memory"}));
  env->root_ = std::move(root);
  const RunScope* run = RunScope::Current();
  if (!run) return Failure("memcg", "run scope", "no run scope is open");
  CKC_TRY(parent, Cgroup::Open(env->sys_, run->name(), {"memory"}));
  env->run_parent_ = std::move(parent);
  // The run-scoped parent exists once a group below it does (depth 1 attaches to it).
  CKC_TRY(anchor, env->Leaf(2, 0));
  (void)anchor;
  CKC_CHECK(PinToCpu(env->cpu_));
  return env;
}

MemcgEnv::~MemcgEnv() {
  // Back home before the groups go: removing a group kills what is still in it.
  if (off_.empty()) (void)Return();
  charged_.clear();
  while (!siblings_.empty()) siblings_.pop_back();
  groups_.clear();
  for (auto& [key, chain] : chains_) {
    while (!chain.empty()) chain.pop_back();  // deepest first
  }
}

Result<const Cgroup*> MemcgEnv::Leaf(int depth, uint64_t limit_bytes) {
  if (!off_.empty()) {
    if (depth == 0 && limit_bytes == 0) return nullptr;
    return Failure("memcg", fmt::format("depth {}", depth), off_);
  }
  if (depth == 0) {
    if (limit_bytes) return Failure("memcg", "root", "the root cgroup takes no limit");
    return &root_;
  }
  if (depth == 1) {
    if (limit_bytes) return Failure("memcg", "depth 1", "the run-scoped parent takes no limit");
    return &run_parent_;
  }
  auto& chain = chains_[{depth, limit_bytes}];
  if (!chain.empty()) return &chain.back();
  std::string top = limit_bytes ? fmt::format("m{}-limit{}k", depth, limit_bytes >> 10)
                                : fmt::format("m{}", depth);
  CKC_TRY(first, Cgroup::Create(sys_, top, {"memory"}));
  chain.push_back(std::move(first));
  for (int d = 3; d <= depth; ++d) {
    CKC_TRY(child, chain.back().CreateChild("l"));
    chain.push_back(std::move(child));
  }
  if (limit_bytes) CKC_CHECK(chain.back().SetMemoryMax(limit_bytes));
  return &chain.back();
}

Result<const Cgroup*> MemcgEnv::Group(const std::string& name) {
  if (!off_.empty()) return Failure("memcg", name, off_);
  if (auto it = groups_.find(name); it != groups_.end()) return &it->second;
  CKC_TRY(g, Cgroup::Create(sys_, name, {"memory"}));
  return &groups_.emplace(name, std::move(g)).first->second;
}

Result<const Cgroup*> MemcgEnv::SiblingSet(const std::string& parent, int count) {
  CKC_TRY(p, Group(parent));
  const Cgroup* first = nullptr;
  for (int i = 0; i < count; ++i) {
    CKC_TRY(child, p->CreateChild(fmt::format("s{}", i)));
    siblings_.push_back(std::move(child));
    const Cgroup& g = siblings_.back();
    if (i == 0) {
      first = &g;
      continue;
    }
    // A shmem page is charged to the group of the process that first faults it in, and stays
    // charged there while the memfd lives.
    CKC_CHECK(Enter(&g));
    int fd = ::memfd_create("ckc-bench-sibling", MFD_CLOEXEC);
    Status st = fd >= 0 ? Status{} : ErrnoError("memfd_create", "ckc-bench-sibling");
    if (fd >= 0) charged_.emplace_back(fd);
    static const char page[4096] = {1};
    if (st && ::pwrite(fd, page, sizeof page, 0) != static_cast<ssize_t>(sizeof page)) {
      st = ErrnoError("pwrite", "memfd");
    }
    CKC_CHECK(Return());
    CKC_CHECK(st);
  }
  return first;
}

Status MemcgEnv::Enter(const Cgroup* g) const { return g ? g->Attach(::getpid()) : Status{}; }

Status MemcgEnv::Return() const { return origin_.Attach(::getpid()); }

}  // namespace ckc::bench

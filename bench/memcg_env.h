// The memory cgroups the memcg benchmarks run in, and moving the benchmark process between them.
//
//   CKC_TRY(env, MemcgEnv::Create());                 // pins the process to one CPU
//   CKC_TRY(leaf, env->Leaf(4, 0));                   // <memory mount>/ckc-<id>/m4/l/l: depth 4
//   { Placement in(*env, leaf);  ...timed loop...  }  // back where the process started
//   env->Leaf(0, 0) is the hierarchy root itself (no memcg charging happens there)
//
// On a kernel whose memory controller is off (booted with cgroup_disable=memory, or built
// without CONFIG_MEMCG) the environment has no groups: accounting_off() says why, Leaf(0, 0) is
// nullptr (the process stays where it is) and deeper leaves are errors. The same loops then
// measure the kernel with no accounting at all: bench.memcg-off.
//
// Depth counts levels below the hierarchy root (the run-scoped parent ckc-<id> is depth 1), so
// the page_counter walk a charge makes is depth + 1 counters long, root included. Every group is
// made under the run-scoped parent and removed by ~MemcgEnv, which first moves the process back
// to the cgroup it started in (a process is never left in a test cgroup; removal kills members).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cgroups.h"
#include "fd.h"
#include "result.h"

namespace ckc::bench {

// Why this kernel has no memory accounting ("cmdline:cgroup_disable=memory",
// "config:CONFIG_MEMCG"), or "" when it has it.
[[nodiscard]] std::string MemoryAccountingOff();

class MemcgEnv {
 public:
  [[nodiscard]] static Result<std::unique_ptr<MemcgEnv>> Create();
  ~MemcgEnv();
  MemcgEnv(const MemcgEnv&) = delete;
  MemcgEnv& operator=(const MemcgEnv&) = delete;

  [[nodiscard]] CgroupVersion version() const { return version_; }
  [[nodiscard]] int cpu() const { return cpu_; }
  [[nodiscard]] const std::string& origin() const { return origin_path_; }
  [[nodiscard]] const std::string& accounting_off() const { return off_; }
  // The leaf at `depth` (0: hierarchy root, 1: the run-scoped parent) with memory.max =
  // `limit_bytes` (0: none). Made on first use; owned by the environment. nullptr: no group
  // (accounting off; the process stays where it is).
  [[nodiscard]] Result<const Cgroup*> Leaf(int depth, uint64_t limit_bytes);
  // A fresh group `name` directly below the run-scoped parent (depth 2).
  [[nodiscard]] Result<const Cgroup*> Group(const std::string& name);
  // `count` groups s0 .. s<count-1> below a fresh group `parent` (so at depth 3), each but s0
  // holding one charged shmem page (a memfd page written from inside it, kept open until the
  // environment goes): s0, returned, is where a loop runs while count - 1 siblings are alive
  // and charged.
  [[nodiscard]] Result<const Cgroup*> SiblingSet(const std::string& parent, int count);

  // Moves this process into `g` (nothing for nullptr) / back to where it started.
  [[nodiscard]] Status Enter(const Cgroup* g) const;
  [[nodiscard]] Status Return() const;

 private:
  MemcgEnv() = default;
  CgroupSystem sys_;
  CgroupVersion version_ = CgroupVersion::kV1;
  std::string off_;  // accounting_off()
  int cpu_ = 0;
  std::string origin_path_;
  Cgroup origin_, root_, run_parent_;  // opened, not owned
  // Owned chains, top first; a deque keeps element addresses stable.
  std::map<std::pair<int, uint64_t>, std::deque<Cgroup>> chains_;
  std::map<std::string, Cgroup> groups_;
  std::deque<Cgroup> siblings_;    // SiblingSet's children, removed before groups_
  std::vector<UniqueFd> charged_;  // SiblingSet's memfds: closed (uncharged) before siblings_ go
};

// Puts the process into a group for the life of the object, then back where it started.
class Placement {
 public:
  Placement(const MemcgEnv& env, const Cgroup* g) : env_(env), moved_(g), status_(env.Enter(g)) {}
  ~Placement() {
    if (moved_) (void)env_.Return();
  }
  Placement(const Placement&) = delete;
  Placement& operator=(const Placement&) = delete;
  [[nodiscard]] const Status& status() const { return status_; }

 private:
  const MemcgEnv& env_;
  bool moved_;
  Status status_;
};

// Thread CPU time in seconds (the memcg loops' clock: it leaves out time other processes on the
// pinned CPU take, which on a shared machine is the largest noise).
[[nodiscard]] double ThreadCpuSeconds();

}  // namespace ckc::bench

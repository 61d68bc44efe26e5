// RunScope: everything a run creates on the host sits under one run-scoped name, ckc-<run id>:
// its state directory ($TMPDIR/ckc.<uid>/ckc-<id>) and a cgroup ckc-<id> at the top of each
// cgroup hierarchy it uses. The process that opens a run holds a POSIX lock (not inherited by
// its children) on its state directory;
// a run whose lock nobody holds is dead, and SweepDeadRuns() removes what it left.
//
//   CKC_TRY(run, RunScope::Open());        // joins $CKC_RUN_ID if set, else starts a run
//   run->dir()   run->name()   run->CgroupParentPath(mount)
//   run->Close();                           // at exit: remove this run's cgroups and directory
#pragma once

#include <string>
#include <vector>

#include "fd.h"
#include "kernel.h"
#include "result.h"

namespace ckc {

class RunScope {
 public:
  // The process-wide run: joins the run named by $CKC_RUN_ID (owned by a parent process), or
  // starts a new one (and exports CKC_RUN_ID so children join it).
  [[nodiscard]] static Result<RunScope*> Open();
  // The run opened by Open(), or nullptr.
  [[nodiscard]] static RunScope* Current();

  [[nodiscard]] const std::string& id() const { return id_; }
  [[nodiscard]] std::string name() const { return "ckc-" + id_; }
  [[nodiscard]] const std::string& dir() const { return dir_; }
  [[nodiscard]] bool owner() const { return lock_.valid(); }
  // <mount>/ckc-<id> for a cgroup mount point (created on demand by the cgroup layer).
  [[nodiscard]] std::string CgroupParentPath(const CgroupMountPoint& mount) const;

  // Removes this run's cgroups and state directory if this process owns the run.
  void Close();

 private:
  std::string id_;
  std::string dir_;
  UniqueFd lock_;
};

// $TMPDIR/ckc.<uid>: where run state directories live.
[[nodiscard]] std::string RunStateBase();

struct SweepReport {
  std::vector<std::string> removed;   // what was removed
  std::vector<std::string> failures;  // what could not be (with the error)
};
// Removes the state directories and cgroups of runs that are no longer alive.
[[nodiscard]] SweepReport SweepDeadRuns();
// True if the run `id` is alive (its lock is held by some process).
[[nodiscard]] bool RunIsAlive(const std::string& id);

// Kills every process in the cgroup tree at `path` (thawing v1 freezer groups first), waits for
// them to leave and removes the directories bottom-up, retrying rmdir on EBUSY.
[[nodiscard]] Status RemoveCgroupTree(const std::string& path);

// Unmounts (lazily) every mount at or below `path`, deepest first, then removes the tree.
[[nodiscard]] Status RemoveTree(const std::string& path);

}  // namespace ckc

// RunScope: everything a run creates on the host sits under one run-scoped name, ckc-<run id>:
// its state directory ($TMPDIR/ckc.<uid>/ckc-<id>), a cgroup ckc-<id> at the top of each cgroup
// hierarchy it uses, and the host devices it made (loop, zram), each recorded before use.
//
//   CKC_TRY(run, RunScope::Open());        // joins $CKC_RUN_ID if set, else starts a run
//   run->dir()   run->name()   run->CgroupParentPath(mount)
//   run->Close();                           // at exit: remove this run's cgroups and directory
//
// Liveness does not depend on the environment: the owner of a run holds a POSIX record lock
// (its own, never inherited by children, so a child frozen in a v1 freezer does not keep a dead
// run "alive") on its run record RunLockDir()/<id>.lock, one fixed directory per user (root:
// /run/ckc), whatever $TMPDIR says. The record is text, one "key value" per line:
//     dir /tmp/ckc.0/ckc-1a2b3c4d      (the state directory, wherever $TMPDIR put it)
//     pid 1234
//     state running | closing | ended  (ended: Close() finished but could not remove everything)
// and each device the run made has <id>.dev.<device> ("loop3", "zram1") with what identifies it
// (loop: backing file; zram: sysfs inode and disksize, or `pending` between the record and
// hot_add), so a sweep touches only devices that are still the ones recorded. The owner also
// locks <state dir>/lock, the lock older ckc builds look for. harness/hostrun.py makes its work
// directory the same way.
//
// Sweeps leave evidence: everything SweepDeadRuns() (or Close(), for what a run's own tests left
// behind) removes is appended to SweepLogPath(), saying whether the run had ended normally (its
// state is `ended`, or Close() itself found the leftover) or died; the host guard reads it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
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
  // A new run owned by this process, not the process-wide one (Open() uses it; tests start
  // runs of their own with it).
  [[nodiscard]] static Result<std::unique_ptr<RunScope>> Start();

  RunScope(const RunScope&) = delete;
  RunScope& operator=(const RunScope&) = delete;
  ~RunScope();  // an unclosed run stays on the host for the sweep (as a killed one)

  [[nodiscard]] const std::string& id() const { return id_; }
  [[nodiscard]] std::string name() const { return "ckc-" + id_; }
  [[nodiscard]] const std::string& dir() const { return dir_; }
  [[nodiscard]] bool owner() const { return lock_.valid(); }
  // <mount>/ckc-<id> for a cgroup mount point (created on demand by the cgroup layer).
  [[nodiscard]] std::string CgroupParentPath(const CgroupMountPoint& mount) const;

  // Removes this run's cgroups, devices and state directory if this process owns the run.
  // Anything its tests left there (child cgroups, processes, devices, mounts) is logged to the
  // sweep log as left by a run that ended normally.
  void Close();

 private:
  RunScope() = default;
  void SetState(const std::string& state);

  std::string id_;
  std::string dir_;
  UniqueFd lock_;         // RunLockDir()/<id>.lock, POSIX-locked
  UniqueFd legacy_lock_;  // <dir>/lock, for sweeps of older builds
};

// $TMPDIR/ckc.<uid>: where this process puts run state directories.
[[nodiscard]] std::string RunStateBase();
// The fixed directory of run records and the sweep log: /run/ckc for root, /tmp/ckc-run.<uid>
// otherwise (never from the environment). Made (0700, owned by this user) on first use.
[[nodiscard]] std::string RunLockDir();
// RunLockDir()/sweep.log.
[[nodiscard]] std::string SweepLogPath();

// A host device a run made, as recorded: "loop3" {backing, scheduler}, "zram1" {ino, disksize}.
struct DeviceRecord {
  std::string device;
  std::map<std::string, std::string> fields;
};
// Records (or updates) a device of the current run; without an open run it does nothing.
[[nodiscard]] Status RecordDevice(const DeviceRecord& record);
// Drops the current run's record of `device` (its owner removed it).
void ForgetDevice(const std::string& device);
// Serialises ckc's creation of devices of `kind` ("zram") across processes until the returned
// descriptor closes: a device whose number is predicted and recorded before it exists (hot_add
// picks the lowest free number) is only ever configured under this lock.
[[nodiscard]] Result<UniqueFd> LockDeviceCreation(std::string_view kind);
// Undoes a recorded device after checking it is still the one recorded: zram: swapoff and
// hot_remove; loop: restore the scheduler, detach. Returns what was done ("" if the device is
// gone already); a device that is no longer the recorded one is left alone and says so.
[[nodiscard]] Result<std::string> UndoDevice(const DeviceRecord& record);

// A run as its record says (any run of this user, alive or not).
struct RunRecord {
  std::string id;
  std::string dir;
  std::string state;  // running | closing | ended; "" when the run has no record file
  std::vector<DeviceRecord> devices;
};
[[nodiscard]] std::vector<RunRecord> RecordedRuns();
// The record text of RunLockDir()/<id>.lock parsed ("dir ...", "state ...").
[[nodiscard]] RunRecord ParseRunRecord(const std::string& id, const std::string& text);

// One line of the sweep log: tab-separated time, sweeper, swept run, how it ended, what.
struct SweepEntry {
  std::string time;   // 2025-01-01T12:00:00Z
  std::string by;     // the sweeping run's id ("-" if none)
  std::string run;    // the swept run's id
  std::string ended;  // "normally" (Close() ran, or state `ended`) or "died"
  std::string what;   // "removed cgroup /sys/fs/cgroup/freezer/ckc-1a2b3c4d (2 groups, 1 process)"
  [[nodiscard]] bool normal() const { return ended == "normally"; }
  [[nodiscard]] std::string Describe() const;  // "run 1a2b3c4d (died), swept by 5e6f...: what"
};
[[nodiscard]] std::string FormatSweepEntry(const SweepEntry& e);
[[nodiscard]] std::vector<SweepEntry> ParseSweepLog(const std::string& text);
// "normally" for a record whose state is `ended`, "died" for any other (or none).
[[nodiscard]] std::string HowRunEnded(const RunRecord& record);

struct SweepReport {
  std::vector<std::string> removed;   // paths and devices removed
  std::vector<std::string> failures;  // what could not be (with the error)
  std::vector<SweepEntry> log;        // what was appended to the sweep log
};
// Removes the cgroups, devices, state directories and records of runs that are not alive.
[[nodiscard]] SweepReport SweepDeadRuns();
// Undoes only the recorded devices named `prefix`* ("zram") of runs that are not alive.
[[nodiscard]] SweepReport SweepDeadRunDevices(const std::string& prefix);
// True if the run `id` is alive: this process's run, or its record's (or state directory's)
// lock is held by some process.
[[nodiscard]] bool RunIsAlive(const std::string& id);
// The run id of a path inside a run's state directory or cgroup (".../ckc-1a2b3c4d/..."), if any.
[[nodiscard]] std::optional<std::string> RunIdInPath(const std::string& path);

// "2 groups, 1 process (sleep), frozen": what a cgroup tree holds, for logs and the guard.
struct CgroupTreeFacts {
  int groups = 0;                      // directories, the root included
  std::vector<std::string> processes;  // comm of each process in the tree, sorted
  bool frozen = false;                 // v1 freezer.state FROZEN or v2 cgroup.freeze 1 anywhere
  [[nodiscard]] std::string Describe() const;
};
[[nodiscard]] CgroupTreeFacts InspectCgroupTree(const std::string& path);

// Kills every process in the cgroup tree at `path` (thawing v1 freezer groups first), waits for
// them to leave and removes the directories bottom-up, retrying rmdir on EBUSY.
[[nodiscard]] Status RemoveCgroupTree(const std::string& path);

// Unmounts (lazily) every mount at or below `path`, deepest first, then removes the tree.
[[nodiscard]] Status RemoveTree(const std::string& path);

}  // namespace ckc

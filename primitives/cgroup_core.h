// The cgroup v2 core interface files (cgroup-v2.rst "Core Interface Files"): they exist in every
// cgroup2 hierarchy, also one with no controller enabled (a hybrid host's
// /sys/fs/cgroup/unified). Every call takes a group's directory (a real path in the cgroup2
// tree, e.g. Cgroup::Dir("")) and keeps the kernel's errno, so a refused write reads
// "write(`<dir>/cgroup.subtree_control <- +pids`): ENOENT (No such file or directory)".
//
//   CKC_CHECK(FreezeGroup(dir, true));
//   CKC_TRY(w, EventsWatch::Open(dir));                // poll(POLLPRI) on cgroup.events
//   CKC_TRY(ev, w.WaitFor([](const CgroupEvents& e) { return e.frozen; }, 2s));
//   CKC_CHECK(KillGroup(dir));                         // "1" > cgroup.kill
//   CKC_TRY(st, ReadCgroupStat(dir));  st.nr_dying_descendants
//   CKC_CHECK(DelegateGroup(dir, 65534, 65534));       // chown dir, procs, threads,
//   subtree_control
//
// A file a kernel lacks is ENOENT; probe it first with HasCoreFile() on a non-root group (most
// core files are not on the root: cgroup.events, .freeze, .kill, .type).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "fd.h"
#include "result.h"

namespace ckc {

// --- probes -------------------------------------------------------------------------------

// `dir/file` exists (a core file this kernel has).
[[nodiscard]] bool HasCoreFile(const std::string& dir, std::string_view file);
// clone3(CLONE_INTO_CGROUP) is understood: probed with an fd number nobody has open, which a
// kernel that knows the flag refuses with EBADF and one that does not with EINVAL or E2BIG
// (ENOSYS: no clone3 at all). No process is created.
[[nodiscard]] Result<bool> CloneIntoCgroupSupported();

// --- cgroup.events --------------------------------------------------------------------------

struct CgroupEvents {
  bool populated = false;  // a live process in the group or below
  bool frozen = false;     // the group is frozen (its own cgroup.freeze or an ancestor's)
};
[[nodiscard]] Result<CgroupEvents> ParseCgroupEvents(std::string_view text);
[[nodiscard]] Result<CgroupEvents> ReadCgroupEvents(const std::string& dir);

// An open cgroup.events. kernfs flags a change since the file was opened or last read as
// POLLPRI|POLLERR (cgroup-v2.rst: "a value change in this file generates a file modified event").
class EventsWatch {
 public:
  [[nodiscard]] static Result<EventsWatch> Open(const std::string& dir);
  // Reads the file again from the start; this also re-arms the notification.
  [[nodiscard]] Result<CgroupEvents> Read();
  // Waits up to `timeout` for a modification; false if none came.
  [[nodiscard]] Result<bool> WaitModified(std::chrono::milliseconds timeout);
  // Reads, and waits for notifications in between, until `done` holds or `timeout` passed;
  // returns the last state read. *notified is set when a notification woke the wait.
  [[nodiscard]] Result<CgroupEvents> WaitFor(const std::function<bool(const CgroupEvents&)>& done,
                                             std::chrono::milliseconds timeout,
                                             bool* notified = nullptr);
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  EventsWatch(UniqueFd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}
  UniqueFd fd_;
  std::string path_;
};

// inotify IN_MODIFY on one file (the other way cgroup-v2.rst names to watch cgroup.events).
class ModifyWatch {
 public:
  [[nodiscard]] static Result<ModifyWatch> Create(const std::string& path);
  // Waits up to `timeout` for IN_MODIFY on the file; false if none came.
  [[nodiscard]] Result<bool> Wait(std::chrono::milliseconds timeout);

 private:
  ModifyWatch(UniqueFd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}
  UniqueFd fd_;
  std::string path_;
};

// --- process organisation, freezing, killing -----------------------------------------------

// Writes `pid` to cgroup.procs (the whole process) / `tid` to cgroup.threads (one thread).
[[nodiscard]] Status MoveProcess(const std::string& dir, pid_t pid);
[[nodiscard]] Status MoveThread(const std::string& dir, pid_t tid);
// Writes `pid` through an already open cgroup.procs (or cgroup.threads) descriptor: the
// permission check uses the credentials of whoever opened it (CVE-2021-4197 fix).
[[nodiscard]] Status WritePidTo(int procs_fd, pid_t pid, std::string_view what);
// The ids listed in cgroup.procs or cgroup.threads.
[[nodiscard]] Result<std::vector<pid_t>> ReadIds(const std::string& dir, std::string_view file);

[[nodiscard]] Status KillGroup(const std::string& dir);                 // "1" > cgroup.kill
[[nodiscard]] Status FreezeGroup(const std::string& dir, bool frozen);  // cgroup.freeze

// --- topology: type, limits, statistics, controllers ---------------------------------------

// cgroup.type: "domain", "domain threaded", "domain invalid" or "threaded".
[[nodiscard]] Result<std::string> GroupType(const std::string& dir);
[[nodiscard]] Status MakeThreaded(const std::string& dir);  // "threaded" > cgroup.type

// cgroup.max.depth / cgroup.max.descendants ("max" for UINT64_MAX).
[[nodiscard]] Status SetMaxDepth(const std::string& dir, uint64_t depth);
[[nodiscard]] Status SetMaxDescendants(const std::string& dir, uint64_t count);

struct CgroupStat {
  uint64_t nr_descendants = 0;        // visible descendant groups
  uint64_t nr_dying_descendants = 0;  // removed but not yet freed
};
[[nodiscard]] Result<CgroupStat> ReadCgroupStat(const std::string& dir);

// cgroup.subtree_control: `ops` like "+pids -memory" (all or nothing).
[[nodiscard]] Status WriteSubtreeControl(const std::string& dir, std::string_view ops);
// The words of cgroup.controllers / cgroup.subtree_control.
[[nodiscard]] Result<std::vector<std::string>> ListControllers(const std::string& dir,
                                                               std::string_view file);

// --- delegation -----------------------------------------------------------------------------

// The files /sys/kernel/cgroup/delegate names as safe to hand to a delegatee.
[[nodiscard]] Result<std::vector<std::string>> DelegatableFiles();
// Delegates the group as cgroup-v2.rst "Model of Delegation" says: chowns its directory and its
// cgroup.procs, cgroup.threads and cgroup.subtree_control to `uid`:`gid`.
[[nodiscard]] Status DelegateGroup(const std::string& dir, uid_t uid, gid_t gid);

// --- cgroup namespaces ----------------------------------------------------------------------

// How /proc/PID/cgroup names `path` for a reader whose cgroup namespace is rooted at `ns_root`
// (both absolute in the hierarchy): "/" for the root itself, "/x" below it, and one "/.." per
// level up to the common ancestor for a group outside it ("/../sibling").
[[nodiscard]] std::string CgroupPathSeenFrom(std::string_view ns_root, std::string_view path);

}  // namespace ckc

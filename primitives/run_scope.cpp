#include "run_scope.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>

#include <fmt/format.h>
#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <sstream>
#include <thread>

namespace ckc {

namespace fs = std::filesystem;

namespace {

RunScope* g_current = nullptr;

std::string NewRunId() {
  uint32_t r = 0;
  if (::getrandom(&r, sizeof r, 0) != sizeof r) r = static_cast<uint32_t>(::getpid()) * 2654435761u;
  return fmt::format("{:08x}", r);
}

std::vector<std::string> Subdirs(const std::string& path) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(path, ec)) {
    if (e.is_directory(ec) && !e.is_symlink(ec)) out.push_back(e.path().filename());
  }
  return out;
}

bool IsRunName(const std::string& name) { return name.starts_with("ckc-") && name.size() > 4; }

}  // namespace

std::string RunStateBase() {
  const char* tmp = std::getenv("TMPDIR");
  std::string base = (tmp && *tmp) ? tmp : "/tmp";
  return fmt::format("{}/ckc.{}", base, ::geteuid());
}

Result<RunScope*> RunScope::Open() {
  if (g_current) return g_current;
  auto* run = new RunScope();
  std::string base = RunStateBase();
  if (::mkdir(base.c_str(), 0700) != 0 && errno != EEXIST) return ErrnoError("mkdir", base);
  if (const char* joined = std::getenv("CKC_RUN_ID"); joined && *joined) {
    run->id_ = joined;
    run->dir_ = fmt::format("{}/ckc-{}", base, run->id_);
    if (::mkdir(run->dir_.c_str(), 0700) != 0 && errno != EEXIST)
      return ErrnoError("mkdir", run->dir_);
  } else {
    run->id_ = NewRunId();
    run->dir_ = fmt::format("{}/ckc-{}", base, run->id_);
    // Made under a name no sweep looks at, locked, then renamed into place: another run's
    // sweep never sees this run's directory without its lock held.
    std::string making = fmt::format("{}/.making-{}", base, run->id_);
    if (::mkdir(making.c_str(), 0700) != 0) return ErrnoError("mkdir", making);
    CKC_TRY(lock, OpenFile(making + "/lock", O_RDWR | O_CREAT, 0600));
    // A POSIX record lock, not flock(): it belongs to this process alone, so a child that
    // outlives the run (a task frozen in a v1 freezer cannot die) does not keep the run "alive"
    // and out of the sweep that would thaw and kill it.
    struct flock fl {};
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    if (::fcntl(lock.get(), F_SETLK, &fl) != 0)
      return ErrnoError("fcntl(F_SETLK)", making + "/lock");
    if (::rename(making.c_str(), run->dir_.c_str()) != 0) {
      (void)RemoveTree(making);
      return ErrnoError("rename", making);
    }
    run->lock_ = std::move(lock);
    ::setenv("CKC_RUN_ID", run->id_.c_str(), 1);
  }
  g_current = run;
  return run;
}

RunScope* RunScope::Current() { return g_current; }

std::string RunScope::CgroupParentPath(const CgroupMountPoint& mount) const {
  return fmt::format("{}/{}", mount.path, name());
}

void RunScope::Close() {
  if (!owner()) return;
  if (auto layout = CurrentCgroupLayout()) {
    for (const auto& m : layout->mounts) {
      std::string p = CgroupParentPath(m);
      if (fs::exists(p)) (void)RemoveCgroupTree(p);
    }
  }
  (void)RemoveTree(dir_);
  lock_.Reset();
}

bool RunIsAlive(const std::string& id) {
  std::string lock = fmt::format("{}/ckc-{}/lock", RunStateBase(), id);
  // Closing any descriptor of the lock file drops this process's own POSIX lock: never open
  // our own.
  if (g_current && g_current->id() == id) return true;
  auto fd = OpenFile(lock, O_RDWR);
  if (!fd) return false;
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  return ::fcntl(fd->get(), F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK;
}

Status RemoveCgroupTree(const std::string& path) {
  for (const std::string& sub : Subdirs(path)) CKC_CHECK(RemoveCgroupTree(path + "/" + sub));
  // A v1-frozen task cannot die until thawed; v2's cgroup.kill (5.14) kills atomically.
  if (fs::exists(path + "/freezer.state")) (void)WriteFile(path + "/freezer.state", "THAWED");
  if (fs::exists(path + "/cgroup.kill")) (void)WriteFile(path + "/cgroup.kill", "1");
  for (int attempt = 0; attempt < 200; ++attempt) {
    auto procs = ReadFile(path + "/cgroup.procs");
    if (procs && !procs->empty()) {
      std::istringstream in(*procs);
      for (pid_t pid; in >> pid;) ::kill(pid, SIGKILL);
    }
    if (::rmdir(path.c_str()) == 0 || errno == ENOENT) return {};
    if (errno != EBUSY) return ErrnoError("rmdir", path);
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return ErrnoError("rmdir", path);
}

Status RemoveTree(const std::string& path) {
  // Deepest mounts first; lazily, so a busy one does not stop the rest.
  if (auto info = ReadFile("/proc/self/mountinfo")) {
    std::vector<std::string> targets;
    std::istringstream in(*info);
    for (std::string line; std::getline(in, line);) {
      std::istringstream fields(line);
      std::string id, parent, devno, root, mnt;
      fields >> id >> parent >> devno >> root >> mnt;
      if (mnt == path || mnt.starts_with(path + "/")) targets.push_back(mnt);
    }
    std::ranges::sort(targets, [](const auto& a, const auto& b) { return a.size() > b.size(); });
    for (const auto& t : targets) ::umount2(t.c_str(), MNT_DETACH);
  }
  std::error_code ec;
  fs::remove_all(path, ec);
  if (ec) return Failure("remove_all", path, ec.message());
  return {};
}

SweepReport SweepDeadRuns() {
  SweepReport report;
  const RunScope* self = RunScope::Current();
  auto dead = [&](const std::string& name) {
    std::string id = name.substr(4);
    return !(self && self->id() == id) && !RunIsAlive(id);
  };
  if (auto layout = CurrentCgroupLayout()) {
    for (const auto& m : layout->mounts) {
      for (const std::string& name : Subdirs(m.path)) {
        std::string p = m.path + "/" + name;
        struct stat st {};
        // Another user's runs are theirs to sweep.
        if (!IsRunName(name) || ::stat(p.c_str(), &st) != 0 || st.st_uid != ::geteuid()) continue;
        if (!dead(name)) continue;
        if (auto st = RemoveCgroupTree(p)) {
          report.removed.push_back(p);
        } else {
          report.failures.push_back(st.error().Message());
        }
      }
    }
  }
  std::string base = RunStateBase();
  for (const std::string& name : Subdirs(base)) {
    // A run killed while making its directory (RunScope::Open) leaves a .making-<id>: stale
    // once it is a minute old (making one takes microseconds).
    struct stat st {};
    if (name.starts_with(".making-") && ::stat((base + "/" + name).c_str(), &st) == 0 &&
        st.st_mtime + 60 < ::time(nullptr)) {
      (void)RemoveTree(base + "/" + name);
      continue;
    }
    if (!IsRunName(name) || !dead(name)) continue;
    std::string p = base + "/" + name;
    if (auto st = RemoveTree(p)) {
      report.removed.push_back(p);
    } else {
      report.failures.push_back(st.error().Message());
    }
  }
  return report;
}

}  // namespace ckc

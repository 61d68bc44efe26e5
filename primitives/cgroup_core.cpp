#include "cgroup_core.h"

#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <climits>
#include <sstream>

#include "process.h"

namespace ckc {

namespace {

std::string PathOf(const std::string& dir, std::string_view file) {
  return fmt::format("{}/{}", dir, file);
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::vector<std::string> Words(std::string_view text) {
  std::vector<std::string> out;
  std::istringstream in{std::string(text)};
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

std::string Limit(uint64_t v) { return v == UINT64_MAX ? "max" : std::to_string(v); }

// "key value" lines; a missing key is an error naming it.
Result<uint64_t> KeyedValue(std::string_view text, std::string_view key, std::string_view path) {
  std::istringstream in{std::string(text)};
  for (std::string k; in >> k;) {
    uint64_t v = 0;
    if (!(in >> v)) break;
    if (k == key) return v;
  }
  return Failure("parse", path, fmt::format("no `{}` line in `{}`", key, Trim(std::string(text))));
}

// Waits for `events` on `fd`; false on timeout.
Result<bool> PollFor(int fd, short events, std::chrono::milliseconds timeout,
                     std::string_view what) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, static_cast<int>(std::max<long>(left.count(), 0)));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("poll", what);
    return n > 0 && (p.revents & events) != 0;
  }
}

}  // namespace

// --- probes -------------------------------------------------------------------------------

bool HasCoreFile(const std::string& dir, std::string_view file) {
  struct stat st {};
  return ::stat(PathOf(dir, file).c_str(), &st) == 0;
}

Result<bool> CloneIntoCgroupSupported() {
  int pidfd = -1;
  auto pid = Clone3(0, &pidfd, INT_MAX);
  if (pid) {
    // No kernel accepts an fd nobody has open; should one, the child leaves at once.
    if (*pid == 0) ::_exit(0);
    ::waitpid(*pid, nullptr, 0);
    ::close(pidfd);
    return true;
  }
  switch (pid.error().err) {
    case EBADF:
      return true;
    case EINVAL:
    case E2BIG:
    case ENOSYS:
      return false;
    default:
      return Propagate(pid.error());
  }
}

// --- cgroup.events --------------------------------------------------------------------------

Result<CgroupEvents> ParseCgroupEvents(std::string_view text) {
  CgroupEvents ev;
  CKC_TRY(populated, KeyedValue(text, "populated", "cgroup.events"));
  ev.populated = populated != 0;
  // "frozen" exists since the v2 freezer (5.2); absent means never frozen.
  auto frozen = KeyedValue(text, "frozen", "cgroup.events");
  ev.frozen = frozen && *frozen != 0;
  return ev;
}

Result<CgroupEvents> ReadCgroupEvents(const std::string& dir) {
  CKC_TRY(text, ReadFile(PathOf(dir, "cgroup.events")));
  return ParseCgroupEvents(text);
}

Result<EventsWatch> EventsWatch::Open(const std::string& dir) {
  std::string path = PathOf(dir, "cgroup.events");
  CKC_TRY(fd, OpenFile(path, O_RDONLY));
  return EventsWatch(std::move(fd), std::move(path));
}

Result<CgroupEvents> EventsWatch::Read() {
  if (::lseek(fd_.get(), 0, SEEK_SET) < 0) return ErrnoError("lseek", path_);
  char buf[256];
  ssize_t n = ::read(fd_.get(), buf, sizeof buf - 1);
  if (n < 0) return ErrnoError("read", path_);
  return ParseCgroupEvents(std::string_view(buf, static_cast<size_t>(n)));
}

Result<bool> EventsWatch::WaitModified(std::chrono::milliseconds timeout) {
  return PollFor(fd_.get(), POLLPRI, timeout, path_);
}

Result<CgroupEvents> EventsWatch::WaitFor(const std::function<bool(const CgroupEvents&)>& done,
                                          std::chrono::milliseconds timeout, bool* notified) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    CKC_TRY(ev, Read());
    if (done(ev)) return ev;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return ev;
    CKC_TRY(woke, WaitModified(left));
    if (woke && notified) *notified = true;
  }
}

Result<ModifyWatch> ModifyWatch::Create(const std::string& path) {
  int fd = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (fd < 0) return ErrnoError("inotify_init1");
  UniqueFd owned(fd);
  if (::inotify_add_watch(fd, path.c_str(), IN_MODIFY) < 0) {
    return ErrnoError("inotify_add_watch", path);
  }
  return ModifyWatch(std::move(owned), path);
}

Result<bool> ModifyWatch::Wait(std::chrono::milliseconds timeout) {
  CKC_TRY(ready, PollFor(fd_.get(), POLLIN, timeout, path_));
  if (!ready) return false;
  alignas(inotify_event) char buf[4096];
  ssize_t n = ::read(fd_.get(), buf, sizeof buf);
  if (n < 0) return ErrnoError("read", "inotify on " + path_);
  for (ssize_t off = 0; off < n;) {
    const auto* ev = reinterpret_cast<const inotify_event*>(buf + off);
    if (ev->mask & IN_MODIFY) return true;
    off += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
  }
  return false;
}

// --- process organisation, freezing, killing -----------------------------------------------

Status MoveProcess(const std::string& dir, pid_t pid) {
  return WriteFile(PathOf(dir, "cgroup.procs"), std::to_string(pid));
}

Status MoveThread(const std::string& dir, pid_t tid) {
  return WriteFile(PathOf(dir, "cgroup.threads"), std::to_string(tid));
}

Status WritePidTo(int procs_fd, pid_t pid, std::string_view what) {
  std::string text = std::to_string(pid);
  if (::write(procs_fd, text.data(), text.size()) < 0) {
    return ErrnoError("write", fmt::format("{} <- {}", what, text));
  }
  return {};
}

Result<std::vector<pid_t>> ReadIds(const std::string& dir, std::string_view file) {
  CKC_TRY(text, ReadFile(PathOf(dir, file)));
  std::vector<pid_t> out;
  for (const auto& w : Words(text)) out.push_back(static_cast<pid_t>(std::stol(w)));
  return out;
}

Status KillGroup(const std::string& dir) { return WriteFile(PathOf(dir, "cgroup.kill"), "1"); }

Status FreezeGroup(const std::string& dir, bool frozen) {
  return WriteFile(PathOf(dir, "cgroup.freeze"), frozen ? "1" : "0");
}

// --- topology: type, limits, statistics, controllers ---------------------------------------

Result<std::string> GroupType(const std::string& dir) {
  CKC_TRY(text, ReadFile(PathOf(dir, "cgroup.type")));
  return Trim(std::move(text));
}

Status MakeThreaded(const std::string& dir) {
  return WriteFile(PathOf(dir, "cgroup.type"), "threaded");
}

Status SetMaxDepth(const std::string& dir, uint64_t depth) {
  return WriteFile(PathOf(dir, "cgroup.max.depth"), Limit(depth));
}

Status SetMaxDescendants(const std::string& dir, uint64_t count) {
  return WriteFile(PathOf(dir, "cgroup.max.descendants"), Limit(count));
}

Result<CgroupStat> ReadCgroupStat(const std::string& dir) {
  std::string path = PathOf(dir, "cgroup.stat");
  CKC_TRY(text, ReadFile(path));
  CgroupStat st;
  CKC_TRY(live, KeyedValue(text, "nr_descendants", path));
  CKC_TRY(dying, KeyedValue(text, "nr_dying_descendants", path));
  st.nr_descendants = live;
  st.nr_dying_descendants = dying;
  return st;
}

Status WriteSubtreeControl(const std::string& dir, std::string_view ops) {
  return WriteFile(PathOf(dir, "cgroup.subtree_control"), ops);
}

Result<std::vector<std::string>> ListControllers(const std::string& dir, std::string_view file) {
  CKC_TRY(text, ReadFile(PathOf(dir, file)));
  return Words(text);
}

// --- delegation -----------------------------------------------------------------------------

Result<std::vector<std::string>> DelegatableFiles() {
  CKC_TRY(text, ReadFile("/sys/kernel/cgroup/delegate"));
  return Words(text);
}

Status DelegateGroup(const std::string& dir, uid_t uid, gid_t gid) {
  for (std::string path : {dir, PathOf(dir, "cgroup.procs"), PathOf(dir, "cgroup.threads"),
                           PathOf(dir, "cgroup.subtree_control")}) {
    if (::chown(path.c_str(), uid, gid) != 0) {
      return ErrnoError("chown", fmt::format("{} -> {}:{}", path, uid, gid));
    }
  }
  return {};
}

// --- cgroup namespaces ----------------------------------------------------------------------

std::string CgroupPathSeenFrom(std::string_view ns_root, std::string_view path) {
  auto parts = [](std::string_view p) {
    std::vector<std::string> out;
    std::istringstream in{std::string(p)};
    for (std::string part; std::getline(in, part, '/');) {
      if (!part.empty()) out.push_back(part);
    }
    return out;
  };
  std::vector<std::string> root = parts(ns_root), target = parts(path);
  size_t common = 0;
  while (common < root.size() && common < target.size() && root[common] == target[common]) {
    ++common;
  }
  std::string out;
  for (size_t i = common; i < root.size(); ++i) out += "/..";
  for (size_t i = common; i < target.size(); ++i) out += "/" + target[i];
  return out.empty() ? "/" : out;
}

}  // namespace ckc

#include "mounts.h"

#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <filesystem>
#include <fmt/format.h>
#include <sstream>

#include "fd.h"

namespace ckc {

namespace fs = std::filesystem;

Mount& Mount::operator=(Mount&& other) noexcept {
  if (this != &other) {
    if (!target_.empty()) ::umount2(target_.c_str(), MNT_DETACH);
    target_ = std::exchange(other.target_, {});
  }
  return *this;
}

Mount::~Mount() {
  if (!target_.empty()) ::umount2(target_.c_str(), MNT_DETACH);
}

Status Mount::Unmount(int flags) {
  if (target_.empty()) return {};
  if (::umount2(target_.c_str(), flags) != 0) return ErrnoError("umount2", target_);
  target_.clear();
  return {};
}

Result<TempDir> TempDir::Create(std::string path, mode_t mode) {
  CKC_CHECK(MakeDirs(path, mode));
  return TempDir(std::move(path));
}

TempDir& TempDir::operator=(TempDir&& other) noexcept {
  if (this != &other) {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
    path_ = std::exchange(other.path_, {});
  }
  return *this;
}

TempDir::~TempDir() {
  std::error_code ec;
  if (!path_.empty()) fs::remove_all(path_, ec);
}

Status MakeDirs(const std::string& path, mode_t mode) {
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) return Failure("mkdir", path, ec.message());
  ::chmod(path.c_str(), mode);
  return {};
}

Result<Mount> MountFs(const std::string& source, const std::string& target, const std::string& fstype,
                      unsigned long flags, const std::string& data) {
  if (::mount(source.c_str(), target.c_str(), fstype.empty() ? nullptr : fstype.c_str(), flags,
              data.empty() ? nullptr : data.c_str()) != 0) {
    return ErrnoError("mount", fmt::format("{}, {}{}", target, fstype.empty() ? "bind" : fstype,
                                           data.empty() ? "" : ", " + data));
  }
  return Mount(target);
}

Result<Mount> MountTmpfs(const std::string& target, const std::string& options) {
  return MountFs("tmpfs", target, "tmpfs", 0, options);
}

Result<Mount> MountProc(const std::string& target) {
  return MountFs("proc", target, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC);
}

Result<Mount> BindMount(const std::string& source, const std::string& target, bool read_only,
                        bool recursive) {
  CKC_TRY(m, MountFs(source, target, "", MS_BIND | (recursive ? MS_REC : 0)));
  if (read_only) {
    if (::mount(nullptr, target.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) != 0) {
      return ErrnoError("mount", fmt::format("{}, remount bind read-only", target));
    }
  }
  return m;
}

Status SetPropagation(const std::string& target, Propagation p, bool recursive) {
  unsigned long flags = 0;
  switch (p) {
    case Propagation::kPrivate: flags = MS_PRIVATE; break;
    case Propagation::kShared: flags = MS_SHARED; break;
    case Propagation::kSlave: flags = MS_SLAVE; break;
    case Propagation::kUnbindable: flags = MS_UNBINDABLE; break;
  }
  if (recursive) flags |= MS_REC;
  if (::mount(nullptr, target.c_str(), nullptr, flags, nullptr) != 0) {
    return ErrnoError("mount", fmt::format("{}, propagation {:#x}", target, flags));
  }
  return {};
}

Status MakeRootPrivate() { return SetPropagation("/", Propagation::kPrivate, /*recursive=*/true); }

Status PivotRoot(const std::string& new_root) {
  std::string old = new_root + "/.old-root";
  if (::mkdir(old.c_str(), 0700) != 0 && errno != EEXIST) return ErrnoError("mkdir", old);
  if (::syscall(SYS_pivot_root, new_root.c_str(), old.c_str()) != 0) {
    return ErrnoError("pivot_root", fmt::format("{}, {}", new_root, old));
  }
  if (::chdir("/") != 0) return ErrnoError("chdir", "/");
  if (::umount2("/.old-root", MNT_DETACH) != 0) return ErrnoError("umount2", "/.old-root");
  ::rmdir("/.old-root");
  return {};
}

Result<UnmountWatch> UnmountWatch::Create(const std::string& path) {
  UnmountWatch w;
  w.fd_.Reset(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
  if (!w.fd_) return ErrnoError("inotify_init1");
  // IN_UNMOUNT and IN_IGNORED are always reported; IN_ATTRIB only gives the watch a mask.
  if (::inotify_add_watch(w.fd_.get(), path.c_str(), IN_ATTRIB) < 0) {
    return ErrnoError("inotify_add_watch", path);
  }
  return w;
}

Result<bool> UnmountWatch::WaitUnmounted(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!unmounted_) {
    alignas(inotify_event) char buf[4096];
    ssize_t n = ::read(fd_.get(), buf, sizeof buf);
    for (ssize_t off = 0; n > 0 && off < n;) {
      const auto* ev = reinterpret_cast<const inotify_event*>(buf + off);
      if (ev->mask & IN_UNMOUNT) unmounted_ = true;
      off += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) return ErrnoError("read", "inotify");
    if (unmounted_ || n > 0) continue;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd_.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) < 0 && errno != EINTR) return ErrnoError("poll", "inotify");
  }
  return unmounted_;
}

bool IsMountPoint(const std::string& path) {
  auto info = ReadFile("/proc/self/mountinfo");
  if (!info) return false;
  std::string want = fs::weakly_canonical(path).string();
  std::istringstream in(*info);
  for (std::string line; std::getline(in, line);) {
    std::istringstream f(line);
    std::string id, parent, devno, root, mnt;
    f >> id >> parent >> devno >> root >> mnt;
    if (mnt == want) return true;
  }
  return false;
}

}  // namespace ckc

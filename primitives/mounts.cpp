#include "mounts.h"

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

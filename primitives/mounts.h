// Mounts: owning handles and the mount operations containers are built from.
//
//   CKC_CHECK(MakeRootPrivate());                 // first thing in a new mount namespace
//   CKC_TRY(tmp, MountTmpfs("/tmp", "size=16m"));  // Mount: lazily unmounted when destroyed
//   CKC_TRY(dir, TempDir::Create(run->dir() + "/x"));  // TempDir: removed when destroyed
//   CKC_CHECK(PivotRoot(new_root));                // and the old root detached
//   CKC_TRY(w, UnmountWatch::Create("/proc/PID/root/mnt/f"));  w.WaitUnmounted(5s);  // sb gone?
//
// Mutating the mount table must happen in a mount namespace of the caller's own: these helpers
// never check that, Sandbox does (it always makes / rprivate in its new mount namespace).
#pragma once

#include <sys/mount.h>

#include <chrono>
#include <string>
#include <string_view>
#include <utility>

#include "fd.h"
#include "result.h"

namespace ckc {

// A mount point that is lazily unmounted (MNT_DETACH) when the handle is destroyed.
class Mount {
 public:
  Mount() = default;
  explicit Mount(std::string target) : target_(std::move(target)) {}
  Mount(Mount&& other) noexcept : target_(std::exchange(other.target_, {})) {}
  Mount& operator=(Mount&& other) noexcept;
  Mount(const Mount&) = delete;
  Mount& operator=(const Mount&) = delete;
  ~Mount();

  [[nodiscard]] const std::string& target() const { return target_; }
  // Unmounts now, reporting the error.
  [[nodiscard]] Status Unmount(int flags = 0);
  // Keeps the mount; returns its target.
  std::string Release() { return std::exchange(target_, {}); }

 private:
  std::string target_;
};

// A directory (made with mkdir -p) that is removed with everything below it when destroyed.
class TempDir {
 public:
  TempDir() = default;
  [[nodiscard]] static Result<TempDir> Create(std::string path, mode_t mode = 0755);
  TempDir(TempDir&& other) noexcept : path_(std::exchange(other.path_, {})) {}
  TempDir& operator=(TempDir&& other) noexcept;
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir();

  [[nodiscard]] const std::string& path() const { return path_; }
  [[nodiscard]] std::string operator/(std::string_view name) const { return path_ + "/" + std::string(name); }
  std::string Release() { return std::exchange(path_, {}); }

 private:
  explicit TempDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

[[nodiscard]] Status MakeDirs(const std::string& path, mode_t mode = 0755);

// mount(2) with the error naming target and type.
[[nodiscard]] Result<Mount> MountFs(const std::string& source, const std::string& target,
                                    const std::string& fstype, unsigned long flags = 0,
                                    const std::string& data = {});
[[nodiscard]] Result<Mount> MountTmpfs(const std::string& target, const std::string& options = {});
[[nodiscard]] Result<Mount> MountProc(const std::string& target = "/proc");
// Bind mount; read_only remounts the bind read-only (MS_REMOUNT|MS_BIND|MS_RDONLY).
[[nodiscard]] Result<Mount> BindMount(const std::string& source, const std::string& target,
                                      bool read_only = false, bool recursive = false);

enum class Propagation { kPrivate, kShared, kSlave, kUnbindable };
[[nodiscard]] Status SetPropagation(const std::string& target, Propagation p, bool recursive = false);
// mount --make-rprivate /: so nothing done in this mount namespace reaches the parent's.
[[nodiscard]] Status MakeRootPrivate();

// pivot_root(new_root, new_root/.old-root) then unmounts and removes the old root. new_root
// must be a mount point (bind it onto itself first); the caller's cwd becomes /.
[[nodiscard]] Status PivotRoot(const std::string& new_root);

// Sees a file system go away without holding it: an inotify watch on `path` (any file in the
// file system, also reached through /proc/PID/root/...) gets IN_UNMOUNT when the superblock is
// shut down, i.e. when its last mount, in whatever mount namespace, is gone. The watch pins the
// inode only, never a mount.
class UnmountWatch {
 public:
  [[nodiscard]] static Result<UnmountWatch> Create(const std::string& path);
  // True once IN_UNMOUNT arrived, false if `timeout` passed first.
  [[nodiscard]] Result<bool> WaitUnmounted(std::chrono::milliseconds timeout);

 private:
  UniqueFd fd_;
  bool unmounted_ = false;
};

// True if `path` is a mount point in the caller's mount namespace.
[[nodiscard]] bool IsMountPoint(const std::string& path);

}  // namespace ckc

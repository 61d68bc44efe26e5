// The detached-mount half of the new mount API (Linux 5.2+, mount_setattr 5.12+), wrapped once:
// open_tree, move_mount, mount_setattr (with MOUNT_ATTR_IDMAP), and a user namespace held only by
// its fd to idmap a mount with. fsopen/fsconfig/fsmount live in fs_context.h.
//
//   if (!HasMountSetattr()) ...skip kernel:mount_setattr      // probes: ENOSYS means absent
//   CKC_TRY(copy, CloneTree("/srv/data"));                    // OPEN_TREE_CLONE: detached copy
//   CKC_TRY(users, MakeUserNs({{0, 10000, 1000}}, {{0, 10000, 1000}}));
//   CKC_CHECK(IdmapMount(copy.get(), users.get()));           // EINVAL once attached
//   CKC_TRY(mnt, AttachMount(copy.get(), "/mnt/data"));       // move_mount -> Mount (unmounts)
//   CKC_CHECK(SetMountAttr(AT_FDCWD, "/mnt", AT_RECURSIVE, {.set = MOUNT_ATTR_RDONLY}));
//
// A detached copy that is never attached is dissolved when its last fd closes. Like mounts.h,
// these never check that the caller is in a mount namespace of its own.
#pragma once

#include <fcntl.h>
#include <sys/mount.h>

#include <cstdint>
#include <string>

#include "fd.h"
#include "mounts.h"
#include "result.h"
#include "userns.h"

namespace ckc {

// Whether the kernel has the system call: the call is made with arguments it must refuse, so
// only ENOSYS (absent) tells it apart from EINVAL/EBADF/EPERM (present). Nothing is changed.
[[nodiscard]] bool HasOpenTree();
[[nodiscard]] bool HasMoveMount();
[[nodiscard]] bool HasMountSetattr();
[[nodiscard]] bool HasFsopen();

// open_tree(dirfd, path, flags | OPEN_TREE_CLOEXEC). Without OPEN_TREE_CLONE an O_PATH-like fd of
// the mount at `path`; with it a detached copy (AT_RECURSIVE: with the mounts below it).
[[nodiscard]] Result<UniqueFd> OpenTree(int dirfd, const std::string& path, unsigned int flags);
// OpenTree(AT_FDCWD, path, OPEN_TREE_CLONE [| AT_RECURSIVE]).
[[nodiscard]] Result<UniqueFd> CloneTree(const std::string& path, bool recursive = false);

// move_mount(mount_fd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH): attaches a detached mount
// (from CloneTree or FsContext::MountDetached) onto `target`, or moves an attached one there.
[[nodiscard]] Result<Mount> AttachMount(int mount_fd, const std::string& target);

// struct mount_attr: attributes to set and clear (MOUNT_ATTR_*), a propagation type (MS_SHARED,
// MS_PRIVATE, ...; 0 leaves it) and, with MOUNT_ATTR_IDMAP in `set`, the user namespace fd.
struct MountAttr {
  uint64_t set = 0;
  uint64_t clear = 0;
  uint64_t propagation = 0;
  int userns_fd = -1;
};
// mount_setattr(dirfd, path, flags, attr): flags AT_RECURSIVE, AT_EMPTY_PATH, AT_SYMLINK_NOFOLLOW.
[[nodiscard]] Status SetMountAttr(int dirfd, const std::string& path, unsigned int flags,
                                  const MountAttr& attr);
// mount_setattr(mount_fd, "", AT_EMPTY_PATH, {MOUNT_ATTR_IDMAP, userns_fd}): the mount shows and
// writes ids through the user namespace's maps. The mount must be detached and never attached.
[[nodiscard]] Status IdmapMount(int mount_fd, int userns_fd);

// A new user namespace with these maps, owned by the caller and held by the returned fd alone
// (the process made to create it has exited). Writing ranges needs CAP_SETUID/CAP_SETGID.
[[nodiscard]] Result<UniqueFd> MakeUserNs(const IdMap& uids, const IdMap& gids);

}  // namespace ckc

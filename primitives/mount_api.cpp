#include "mount_api.h"

#include <sched.h>
#include <unistd.h>

#include <fmt/format.h>

#include "channel.h"
#include "namespaces.h"
#include "process.h"

namespace ckc {

namespace {

// Every call below checks its flags before anything else, so all-ones flags are refused with
// EINVAL (fsopen: EPERM first without privilege) by a kernel that has the call.
constexpr unsigned int kBadFlags = ~0u;

bool Present(int rc) { return rc >= 0 || errno != ENOSYS; }

std::string AttrText(const MountAttr& attr) {
  return fmt::format("set={:#x} clear={:#x} propagation={:#x}{}", attr.set, attr.clear,
                     attr.propagation,
                     attr.userns_fd >= 0 ? fmt::format(" userns_fd={}", attr.userns_fd) : "");
}

}  // namespace

bool HasOpenTree() {
  int fd = ::open_tree(-1, "", kBadFlags);
  if (fd >= 0) ::close(fd);
  return Present(fd);
}

bool HasMoveMount() { return Present(::move_mount(-1, "", -1, "", kBadFlags)); }

bool HasMountSetattr() { return Present(::mount_setattr(-1, "", kBadFlags, nullptr, 0)); }

bool HasFsopen() {
  int fd = ::fsopen(nullptr, kBadFlags);
  if (fd >= 0) ::close(fd);
  return Present(fd);
}

Result<UniqueFd> OpenTree(int dirfd, const std::string& path, unsigned int flags) {
  int fd = ::open_tree(dirfd, path.c_str(), flags | OPEN_TREE_CLOEXEC);
  if (fd < 0) {
    return ErrnoError(
        "open_tree", fmt::format("{}{}", path, flags & OPEN_TREE_CLONE ? ", OPEN_TREE_CLONE" : ""));
  }
  return UniqueFd(fd);
}

Result<UniqueFd> CloneTree(const std::string& path, bool recursive) {
  return OpenTree(AT_FDCWD, path, OPEN_TREE_CLONE | (recursive ? AT_RECURSIVE : 0));
}

Result<Mount> AttachMount(int mount_fd, const std::string& target) {
  if (::move_mount(mount_fd, "", AT_FDCWD, target.c_str(), MOVE_MOUNT_F_EMPTY_PATH) != 0) {
    return ErrnoError("move_mount", fmt::format("fd {} -> {}", mount_fd, target));
  }
  return Mount(target);
}

Status SetMountAttr(int dirfd, const std::string& path, unsigned int flags, const MountAttr& attr) {
  mount_attr raw{};
  raw.attr_set = attr.set;
  raw.attr_clr = attr.clear;
  raw.propagation = attr.propagation;
  raw.userns_fd = attr.userns_fd >= 0 ? static_cast<uint64_t>(attr.userns_fd) : 0;
  if (::mount_setattr(dirfd, path.c_str(), flags, &raw, sizeof raw) != 0) {
    return ErrnoError("mount_setattr",
                      fmt::format("{}{}, {}", path.empty() ? fmt::format("fd {}", dirfd) : path,
                                  flags & AT_RECURSIVE ? " (recursive)" : "", AttrText(attr)));
  }
  return {};
}

Status IdmapMount(int mount_fd, int userns_fd) {
  return SetMountAttr(mount_fd, "", AT_EMPTY_PATH,
                      {.set = MOUNT_ATTR_IDMAP, .userns_fd = userns_fd});
}

Result<UniqueFd> MakeUserNs(const IdMap& uids, const IdMap& gids) {
  CKC_TRY(ch, Channel::Create());
  // The child only has to exist until its namespace is open here; the fd keeps it alive after.
  CKC_TRY(child, Spawn({.flags = CLONE_NEWUSER}, [&] {
            ch.BecomeChild();
            return ch.Expect("done", std::chrono::seconds(10)) ? 0 : 1;
          }));
  ch.BecomeParent();
  CKC_CHECK(WriteIdMaps(child.pid(), uids, gids));
  CKC_TRY(fd, OpenNs(child.pid(), NsType::kUser));
  CKC_CHECK(ch.Send("done"));
  CKC_TRY(status, child.Wait(std::chrono::seconds(10)));
  if (!status.Exited(0)) {
    return Failure("make user namespace", fmt::format("pid {}", child.pid()), status.Describe());
  }
  return fd;
}

}  // namespace ckc

// Namespaces: identify them, enter them, keep them alive.
//
//   NsId a = *NsIdOf(getpid(), NsType::kNet);  NsId b = *NsIdOf(child.pid(), NsType::kNet);
//   a == b                                      // same namespace iff (dev, inode) are equal
//   CKC_TRY(fd, OpenNs(child.pid(), NsType::kNet));  CKC_CHECK(Setns(fd.get(), NsType::kNet));
//   CKC_TRY(keep, BindNsFile(pid, NsType::kUts, dir + "/uts"));   // Mount that unmounts
//   CKC_CHECK(EnterNs(fd.get(), NsType::kPid));   // joins the owning user namespace first if needed
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "fd.h"
#include "mounts.h"
#include "result.h"

namespace ckc {

enum class NsType { kCgroup, kIpc, kMnt, kNet, kPid, kTime, kUser, kUts };

inline constexpr std::array kAllNsTypes = {NsType::kCgroup, NsType::kIpc,  NsType::kMnt,
                                           NsType::kNet,    NsType::kPid,  NsType::kTime,
                                           NsType::kUser,   NsType::kUts};

[[nodiscard]] std::string_view NsName(NsType type);  // "net": the /proc/PID/ns/<name> file
[[nodiscard]] int NsCloneFlag(NsType type);          // CLONE_NEWNET

// (dev, inode) of a namespace file: equal ids mean the same namespace.
struct NsId {
  dev_t dev = 0;
  ino_t ino = 0;
  friend bool operator==(const NsId&, const NsId&) = default;
};
[[nodiscard]] std::string NsIdString(const NsId& id);  // "4026531838"

[[nodiscard]] std::string NsPath(pid_t pid, NsType type);  // /proc/PID/ns/net
[[nodiscard]] Result<NsId> NsIdOf(pid_t pid, NsType type);
[[nodiscard]] Result<NsId> NsIdOfPath(std::string_view path);
// Kernel's fixed inode numbers of the initial namespaces (include/linux/proc_ns.h).
[[nodiscard]] ino_t InitialNsInode(NsType type);  // 0 where the kernel has none (mnt, net, time)

[[nodiscard]] Result<UniqueFd> OpenNs(pid_t pid, NsType type);
// setns(2) on an ns file descriptor (or a pidfd with a CLONE_NEW* mask via SetnsPidfd).
[[nodiscard]] Status Setns(int fd, NsType type);
[[nodiscard]] Status Unshare(int clone_flags);

// Bind-mounts /proc/PID/ns/<type> onto `target` (a file it creates) so the namespace outlives
// its processes. The caller must be in a mount namespace of its own (bind mounts of ns files
// cannot be made in a namespace that the ns file refers to a later one of).
[[nodiscard]] Result<Mount> BindNsFile(pid_t pid, NsType type, const std::string& target);

// The user namespace that owns the namespace open at `ns_fd` (ioctl NS_GET_USERNS).
[[nodiscard]] Result<UniqueFd> OwningUserNs(int ns_fd);

// setns() into the namespace open at `ns_fd`, first joining its owning user namespace when that
// is not the caller's (what `nsenter -U` does for a rootless container: setns needs
// CAP_SYS_ADMIN over the owner). Moves the whole (single-threaded) process for user/pid/mnt.
[[nodiscard]] Status EnterNs(int ns_fd, NsType type);

// Runs `fn` with the calling thread inside the namespace open at `ns_fd`, then returns to the
// namespace the thread was in. For net and uts (per-thread switchable) namespaces.
[[nodiscard]] Status InNamespace(int ns_fd, NsType type, const std::function<Status()>& fn);

}  // namespace ckc

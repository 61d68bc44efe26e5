#include "namespaces.h"

#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

namespace ckc {

std::string_view NsName(NsType type) {
  switch (type) {
    case NsType::kCgroup: return "cgroup";
    case NsType::kIpc: return "ipc";
    case NsType::kMnt: return "mnt";
    case NsType::kNet: return "net";
    case NsType::kPid: return "pid";
    case NsType::kTime: return "time";
    case NsType::kUser: return "user";
    case NsType::kUts: return "uts";
  }
  return "?";
}

int NsCloneFlag(NsType type) {
  switch (type) {
    case NsType::kCgroup: return CLONE_NEWCGROUP;
    case NsType::kIpc: return CLONE_NEWIPC;
    case NsType::kMnt: return CLONE_NEWNS;
    case NsType::kNet: return CLONE_NEWNET;
    case NsType::kPid: return CLONE_NEWPID;
    case NsType::kTime: return 0x00000080;  // CLONE_NEWTIME
    case NsType::kUser: return CLONE_NEWUSER;
    case NsType::kUts: return CLONE_NEWUTS;
  }
  return 0;
}

ino_t InitialNsInode(NsType type) {
  // PROC_*_INIT_INO in include/linux/proc_ns.h: fixed since 3.8 (cgroup: 4.6, time: 5.6).
  switch (type) {
    case NsType::kIpc: return 0xEFFFFFFFU;
    case NsType::kUts: return 0xEFFFFFFEU;
    case NsType::kUser: return 0xEFFFFFFDU;
    case NsType::kPid: return 0xEFFFFFFCU;
    case NsType::kCgroup: return 0xEFFFFFFBU;
    case NsType::kTime: return 0xEFFFFFFAU;
    case NsType::kMnt:
    case NsType::kNet: return 0;
  }
  return 0;
}

std::string NsIdString(const NsId& id) { return fmt::format("{}", id.ino); }

std::string NsPath(pid_t pid, NsType type) { return fmt::format("/proc/{}/ns/{}", pid, NsName(type)); }

Result<NsId> NsIdOfPath(std::string_view path) {
  struct stat st {};
  std::string p(path);
  if (::stat(p.c_str(), &st) != 0) return ErrnoError("stat", p);
  return NsId{st.st_dev, st.st_ino};
}

Result<NsId> NsIdOf(pid_t pid, NsType type) { return NsIdOfPath(NsPath(pid, type)); }

Result<UniqueFd> OpenNs(pid_t pid, NsType type) { return OpenFile(NsPath(pid, type), O_RDONLY); }

Status Setns(int fd, NsType type) {
  if (::setns(fd, NsCloneFlag(type)) != 0) return ErrnoError("setns", std::string(NsName(type)));
  return {};
}

Status Unshare(int clone_flags) {
  if (::unshare(clone_flags) != 0) return ErrnoError("unshare", fmt::format("{:#x}", clone_flags));
  return {};
}

Result<Mount> BindNsFile(pid_t pid, NsType type, const std::string& target) {
  CKC_TRY(placeholder, OpenFile(target, O_RDONLY | O_CREAT, 0600));
  placeholder.Reset();
  std::string source = NsPath(pid, type);
  if (::mount(source.c_str(), target.c_str(), nullptr, MS_BIND, nullptr) != 0) {
    return ErrnoError("mount", fmt::format("{} -> {} (bind)", source, target));
  }
  return Mount(target);
}

Result<UniqueFd> OwningUserNs(int ns_fd) {
  int fd = ::ioctl(ns_fd, NS_GET_USERNS);
  if (fd < 0) return ErrnoError("ioctl", "NS_GET_USERNS");
  return UniqueFd(fd);
}

Status EnterNs(int ns_fd, NsType type) {
  if (type != NsType::kUser) {
    CKC_TRY(owner, OwningUserNs(ns_fd));
    CKC_TRY(owner_id, NsIdOfPath(fmt::format("/proc/self/fd/{}", owner.get())));
    CKC_TRY(mine, NsIdOf(::getpid(), NsType::kUser));
    if (owner_id != mine) CKC_CHECK(Setns(owner.get(), NsType::kUser));
  }
  return Setns(ns_fd, type);
}

Status InNamespace(int ns_fd, NsType type, const std::function<Status()>& fn) {
  CKC_TRY(self, OpenFile(fmt::format("/proc/thread-self/ns/{}", NsName(type)), O_RDONLY));
  CKC_CHECK(Setns(ns_fd, type));
  Status result = fn();
  if (auto back = Setns(self.get(), type); !back) return back;
  return result;
}

}  // namespace ckc

#include "fs_context.h"

#include <sys/mount.h>
#include <unistd.h>

#include <fmt/format.h>

namespace ckc {

Result<FsContext> FsContext::Open(std::string fstype) {
  int fd = ::fsopen(fstype.c_str(), FSOPEN_CLOEXEC);
  if (fd < 0) return ErrnoError("fsopen", fstype);
  return FsContext(UniqueFd(fd), std::move(fstype));
}

std::string FsContext::DrainMessages() {
  // Each read(2) returns one logged message; ENODATA once the log is empty.
  std::string out;
  char buf[1024];
  for (int i = 0; i < 64; ++i) {
    ssize_t n = ::read(fd_.get(), buf, sizeof(buf) - 1);
    if (n <= 0) break;
    std::string_view msg(buf, static_cast<size_t>(n));
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.remove_suffix(1);
    if (!out.empty()) out += "; ";
    out += msg;
  }
  return out;
}

std::unexpected<Error> FsContext::Fail(std::string_view operation, std::string_view argument) {
  int saved = errno;
  std::string messages = DrainMessages();
  return std::unexpected(Error{saved, std::string(operation),
                               fmt::format("{}: {}", fstype_, argument),
                               messages.empty() ? std::string() : "kernel: " + messages});
}

Status FsContext::SetString(const std::string& key, const std::string& value) {
  if (::fsconfig(fd_.get(), FSCONFIG_SET_STRING, key.c_str(), value.c_str(), 0) != 0) {
    return Fail("fsconfig", fmt::format("{}={}", key, value));
  }
  return {};
}

Status FsContext::SetFlag(const std::string& key) {
  if (::fsconfig(fd_.get(), FSCONFIG_SET_FLAG, key.c_str(), nullptr, 0) != 0) {
    return Fail("fsconfig", key);
  }
  return {};
}

Status FsContext::Create() {
  if (::fsconfig(fd_.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0) {
    return Fail("fsconfig", "create");
  }
  return {};
}

Result<UniqueFd> FsContext::MountDetached(unsigned int attr_flags) {
  int mfd = ::fsmount(fd_.get(), FSMOUNT_CLOEXEC, attr_flags);
  if (mfd < 0) return Fail("fsmount", "detached");
  return UniqueFd(mfd);
}

Result<Mount> FsContext::Attach(const std::string& target, unsigned int attr_flags) {
  int mfd = ::fsmount(fd_.get(), FSMOUNT_CLOEXEC, attr_flags);
  if (mfd < 0) return Fail("fsmount", target);
  UniqueFd mnt(mfd);
  if (::move_mount(mnt.get(), "", AT_FDCWD, target.c_str(), MOVE_MOUNT_F_EMPTY_PATH) != 0) {
    return ErrnoError("move_mount", target);
  }
  return Mount(target);
}

}  // namespace ckc

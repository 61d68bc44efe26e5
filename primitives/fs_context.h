// FsContext: the new mount API (fsopen / fsconfig / fsmount / move_mount, Linux 5.2+), wrapped
// once, so a refused option is reported by name together with the kernel's own message.
//
//   CKC_TRY(fc, FsContext::Open("overlay"));              // ENOSYS: fall back to mount(2)
//   CKC_CHECK(fc.SetString("lowerdir", "/l1:/l2"));       // error names `lowerdir=/l1:/l2`
//   CKC_CHECK(fc.Create());                               // FSCONFIG_CMD_CREATE
//   CKC_TRY(mnt, fc.Attach("/merged"));                   // fsmount + move_mount -> Mount
//   CKC_TRY(fd, fc.MountDetached());                      // or fsmount alone (mount_api.h)
//
// The kernel logs why it refused something ("e overlayfs: missing 'lowerdir'") into the context;
// every error from these calls carries that text in Error::detail. File systems that were not
// ported to fs_context take their options as a legacy string, so they are only checked at
// Create() and the error then names "create" instead of the option.
#pragma once

#include <string>
#include <string_view>

#include "fd.h"
#include "mounts.h"
#include "result.h"

namespace ckc {

class FsContext {
 public:
  // fsopen(fstype, FSOPEN_CLOEXEC). ENOSYS when the kernel predates the new mount API.
  [[nodiscard]] static Result<FsContext> Open(std::string fstype);

  // fsconfig(FSCONFIG_SET_STRING, key, value); the error's argument reads "key=value".
  [[nodiscard]] Status SetString(const std::string& key, const std::string& value);
  // fsconfig(FSCONFIG_SET_FLAG, key).
  [[nodiscard]] Status SetFlag(const std::string& key);
  // fsconfig(FSCONFIG_CMD_CREATE): makes the superblock; most file systems validate here.
  [[nodiscard]] Status Create();
  // fsmount() then move_mount() onto `target`: the mount is attached and unmounted by the Mount.
  [[nodiscard]] Result<Mount> Attach(const std::string& target, unsigned int attr_flags = 0);
  // fsmount() alone: a detached mount (an fd, in no mount table) that can be used as a directory
  // fd, idmapped or attached later (mount_api.h); it goes away with its last fd.
  [[nodiscard]] Result<UniqueFd> MountDetached(unsigned int attr_flags = 0);

  // The messages the kernel logged into this context since the last call ("e ...; w ...").
  [[nodiscard]] std::string DrainMessages();
  [[nodiscard]] int fd() const { return fd_.get(); }

 private:
  FsContext(UniqueFd fd, std::string fstype) : fd_(std::move(fd)), fstype_(std::move(fstype)) {}
  [[nodiscard]] std::unexpected<Error> Fail(std::string_view operation, std::string_view argument);

  UniqueFd fd_;
  std::string fstype_;
};

}  // namespace ckc

#include "nsfs.h"

#include <linux/nsfs.h>
#include <sys/ioctl.h>

#include "namespaces.h"

namespace ckc {

Result<UniqueFd> NsParent(int ns_fd) {
  int fd = ::ioctl(ns_fd, NS_GET_PARENT);
  if (fd < 0) return ErrnoError("ioctl", "NS_GET_PARENT");
  return UniqueFd(fd);
}

Result<int> NsTypeOf(int ns_fd) {
  int type = ::ioctl(ns_fd, NS_GET_NSTYPE);
  if (type < 0) return ErrnoError("ioctl", "NS_GET_NSTYPE");
  return type;
}

Result<uid_t> NsOwnerUid(int userns_fd) {
  uid_t uid = 0;
  if (::ioctl(userns_fd, NS_GET_OWNER_UID, &uid) != 0) {
    return ErrnoError("ioctl", "NS_GET_OWNER_UID");
  }
  return uid;
}

Status ProbeNsIoctls() {
  CKC_TRY(user, OpenNs(::getpid(), NsType::kUser));
  if (auto type = NsTypeOf(user.get()); !type) return Propagate(type.error());
  if (auto owner = NsOwnerUid(user.get()); !owner) return Propagate(owner.error());
  return {};
}

}  // namespace ckc

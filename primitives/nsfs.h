// ioctl_ns(2) on namespace files: the parent of a pid or user namespace, the type of any
// namespace and the owner of a user namespace. NS_GET_USERNS is OwningUserNs() in namespaces.h.
//
//   CKC_TRY(ns, OpenNs(pid, NsType::kUser));
//   CKC_TRY(parent, NsParent(ns.get()));          // EPERM beyond the caller's reach
//   CKC_TRY(type, NsTypeOf(ns.get()));            // CLONE_NEWUSER
//   CKC_TRY(owner, NsOwnerUid(ns.get()));         // in the caller's user namespace
#pragma once

#include <sys/types.h>

#include "fd.h"
#include "result.h"

namespace ckc {

// NS_GET_PARENT (4.9): the parent of a hierarchical (pid, user) namespace; EINVAL for other
// types, EPERM when the parent is outside the caller's namespace scope.
[[nodiscard]] Result<UniqueFd> NsParent(int ns_fd);
// NS_GET_NSTYPE (4.11): the CLONE_NEW* flag of the namespace.
[[nodiscard]] Result<int> NsTypeOf(int ns_fd);
// NS_GET_OWNER_UID (4.11): the uid, in the caller's user namespace, of the creator of the user
// namespace open at `userns_fd`; EINVAL for other types.
[[nodiscard]] Result<uid_t> NsOwnerUid(int userns_fd);

// NS_GET_NSTYPE and NS_GET_OWNER_UID on the caller's own user namespace: ENOTTY (or EINVAL)
// where the kernel predates them.
[[nodiscard]] Status ProbeNsIoctls();

}  // namespace ckc

// Landlock (Documentation/userspace-api/landlock.rst): an LSM an unprivileged process uses to
// restrict itself, plus lsm_list_modules(2), which names the active LSMs without securityfs.
//
//   CKC_TRY(abi, landlock::AbiVersion());   // ENOSYS: not built in; EOPNOTSUPP: off at boot
//   CKC_TRY(rs, landlock::CreateRuleset(LANDLOCK_ACCESS_FS_READ_FILE));  // what it governs
//   CKC_TRY(dir, OpenFile(path, O_PATH | O_DIRECTORY));
//   CKC_CHECK(landlock::AddPathBeneath(rs, dir.get(), LANDLOCK_ACCESS_FS_READ_FILE));
//   CKC_CHECK(SetNoNewPrivs());              // seccomp_filter.h; or hold CAP_SYS_ADMIN
//   CKC_CHECK(landlock::RestrictSelf(rs));   // irreversible for the thread: do it in a child
//
// Access the ruleset governs but no rule grants is denied with EACCES from then on.
#pragma once

#include <linux/landlock.h>

#include <cstdint>
#include <string>
#include <vector>

#include "fd.h"
#include "result.h"

namespace ckc::landlock {

// The Landlock ABI version the kernel serves (1 for 5.13, higher for later additions).
[[nodiscard]] Result<int> AbiVersion();
// A ruleset governing the file-system access rights `handled_fs` (LANDLOCK_ACCESS_FS_*).
[[nodiscard]] Result<UniqueFd> CreateRuleset(uint64_t handled_fs);
// A rule granting `allowed` (a subset of the handled rights) beneath the directory or file open
// at `parent_fd` (O_PATH is enough).
[[nodiscard]] Status AddPathBeneath(const UniqueFd& ruleset, int parent_fd, uint64_t allowed);
// Enforces the ruleset on the calling thread and the children it makes afterwards. The kernel
// refuses it (EPERM) unless no_new_privs is set or the caller has CAP_SYS_ADMIN.
[[nodiscard]] Status RestrictSelf(const UniqueFd& ruleset);

}  // namespace ckc::landlock

namespace ckc {

// The active LSMs by name ("capability", "landlock", ...) from lsm_list_modules(2) (Linux
// 6.8), in the kernel's order; ENOSYS on older kernels. Ids this code does not know come back
// as "lsm-<id>".
[[nodiscard]] Result<std::vector<std::string>> ListLsmModules();

}  // namespace ckc

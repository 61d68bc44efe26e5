// Seccomp beyond SeccompFilter's basics: answering user notifications one at a time in a chosen
// way (seccomp_unotify(2)), loading a filter on every thread (TSYNC), and the kernel's list of
// actions.
//
//   CKC_TRY(n, ReceiveNotification(notify_fd, 5s));            // poll + SECCOMP_IOCTL_NOTIF_RECV
//   n.data.nr == SCMP_SYS(mkdirat), n.pid, n.data.args[1] ...
//   CKC_CHECK(RespondContinue(notify_fd, n.id));               // the call runs for real
//   CKC_CHECK(Respond(notify_fd, n.id, {.val = 0, .error = EPERM}));
//   CKC_TRY(remote, AddFd(notify_fd, n.id, my_fd, {.send = true}));   // fd number in the target
//   CKC_TRY(has, ProbeNotifyFeature(NotifyFeature::kAddFdSend));      // before the row runs
//   CKC_CHECK(LoadFilterOnAllThreads(SCMP_ACT_ALLOW, {{SCMP_ACT_ERRNO(ENOMSG), SCMP_SYS(uname)}}));
//   CKC_TRY(log, ActionAvailable(SECCOMP_RET_LOG));          // SECCOMP_GET_ACTION_AVAIL
//
// Receiving goes through libseccomp (it sizes the buffers with SECCOMP_GET_NOTIF_SIZES).
// Responding and SECCOMP_IOCTL_NOTIF_ADDFD are ioctls of their own here: libseccomp 2.5 has no
// addfd, and its respond turns every kernel errno into ECANCELED, while the probes below need to
// tell EINVAL (flag unknown) from ENOENT (no such notification). Loading a filter is
// irreversible for the caller: call LoadFilterOnAllThreads in a child.
#pragma once

#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "result.h"
#include "seccomp_filter.h"

namespace ckc {

// One intercepted call, as SECCOMP_IOCTL_NOTIF_RECV reported it.
struct Notification {
  uint64_t id = 0;  // the cookie every answer must name
  pid_t pid = 0;    // the target's thread id, in the supervisor's pid namespace
  seccomp_data data{};
};

// Waits up to `timeout` for the next notification on `notify_fd` and receives it: ETIMEDOUT, or
// a failure "filter gone" once every filtered task has exited.
[[nodiscard]] Result<Notification> ReceiveNotification(int notify_fd,
                                                       std::chrono::milliseconds timeout);
// SECCOMP_IOCTL_NOTIF_SEND: the call returns `reply.val`, or fails with `reply.error` (> 0).
[[nodiscard]] Status Respond(int notify_fd, uint64_t id, const NotifyReply& reply);
// SECCOMP_IOCTL_NOTIF_SEND with SECCOMP_USER_NOTIF_FLAG_CONTINUE: the kernel runs the call.
[[nodiscard]] Status RespondContinue(int notify_fd, uint64_t id);

struct AddFdOptions {
  bool send = false;  // SECCOMP_ADDFD_FLAG_SEND: the fd number is also the answer
  std::optional<int> target_fd = std::nullopt;  // SECCOMP_ADDFD_FLAG_SETFD: install at this number
  bool cloexec = false;                         // newfd_flags O_CLOEXEC in the target
};
// SECCOMP_IOCTL_NOTIF_ADDFD: installs a duplicate of the caller's `fd` in the target of
// notification `id`; returns the fd number it got there.
[[nodiscard]] Result<int> AddFd(int notify_fd, uint64_t id, int fd, const AddFdOptions& options);

enum class NotifyFeature {
  kContinue,   // SECCOMP_USER_NOTIF_FLAG_CONTINUE
  kAddFd,      // SECCOMP_IOCTL_NOTIF_ADDFD
  kAddFdSend,  // SECCOMP_ADDFD_FLAG_SEND
};
// "SECCOMP_USER_NOTIF_FLAG_CONTINUE", ...: the name a skip reason uses.
[[nodiscard]] std::string NotifyFeatureName(NotifyFeature feature);
// Whether the kernel has `feature`. A child loads a notifying filter and asks for it with a
// notification id that does not exist: ENOENT means the kernel got past its flag checks (has
// it), EINVAL that it refused the flag or ioctl. Needs user notification
// (UserNotificationSupported).
[[nodiscard]] Result<bool> ProbeNotifyFeature(NotifyFeature feature);

struct SeccompRule {
  uint32_t action;
  int syscall_nr;
};
// Loads a filter (default action plus `rules`) with SCMP_FLTATR_CTL_TSYNC, so the kernel puts it
// on every thread of the calling process at once (SECCOMP_FILTER_FLAG_TSYNC). A thread the kernel
// could not synchronise fails the load (ESRCH from libseccomp).
[[nodiscard]] Status LoadFilterOnAllThreads(uint32_t default_action,
                                            const std::vector<SeccompRule>& rules);

// SECCOMP_GET_ACTION_AVAIL for a SECCOMP_RET_* action: true if the kernel has it, false on
// EOPNOTSUPP; an error (EINVAL) where the kernel predates the operation.
[[nodiscard]] Result<bool> ActionAvailable(uint32_t action);

// The actions /proc/sys/kernel/seccomp/actions_avail names, with their SECCOMP_RET_* values.
struct NamedAction {
  const char* name;  // "kill_process", "log", ...: the spelling of actions_avail
  uint32_t action;
};
[[nodiscard]] const std::vector<NamedAction>& KnownSeccompActions();

}  // namespace ckc

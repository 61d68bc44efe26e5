// Seccomp over libseccomp: filters (errno, trap, kill-thread, kill-process, user notification,
// argument comparisons), the user-notification supervisor loop, and strict mode.
//
//   CKC_TRY(f, SeccompFilter::Create(SCMP_ACT_ALLOW));
//   CKC_CHECK(f.Add(SCMP_ACT_ERRNO(ENOMSG), SCMP_SYS(uname)));
//   CKC_CHECK(f.Add(SCMP_ACT_ERRNO(EPERM), SCMP_SYS(socket), {SCMP_A0(SCMP_CMP_EQ, AF_INET)}));
//   CKC_CHECK(f.Load());                       // errors are the kernel's errno (EACCES, ...)
//   // user notification: f.Add(SCMP_ACT_NOTIFY, ...); f.Load(); CKC_TRY(fd, f.NotifyFd());
//   SuperviseNotifications(fd.get(), [](const seccomp_notif& n) { return NotifyReply{.val = 1}; },
//   1, 5s);
//
// Loading a filter or entering strict mode is irreversible for the calling thread: tests do
// it in a child. No BPF is assembled by hand: libseccomp builds it.
// (Named seccomp_filter.h, not seccomp.h: that name would shadow libseccomp's <seccomp.h>.)
#pragma once

#include <seccomp.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "fd.h"
#include "result.h"

namespace ckc {

class SeccompFilter {
 public:
  [[nodiscard]] static Result<SeccompFilter> Create(uint32_t default_action = SCMP_ACT_ALLOW);
  SeccompFilter(SeccompFilter&& other) noexcept;
  SeccompFilter& operator=(SeccompFilter&& other) noexcept;
  SeccompFilter(const SeccompFilter&) = delete;
  SeccompFilter& operator=(const SeccompFilter&) = delete;
  ~SeccompFilter();

  // A rule for `syscall_nr` (SCMP_SYS(name)), optionally only when all `args` compare true.
  [[nodiscard]] Status Add(uint32_t action, int syscall_nr,
                           const std::vector<scmp_arg_cmp>& args = {});
  // libseccomp sets no_new_privs before loading unless told not to (SCMP_FLTATR_CTL_NNP).
  [[nodiscard]] Status SetNoNewPrivs(bool set);
  // seccomp_load; the error carries the kernel's errno (SCMP_FLTATR_API_SYSRAWRC).
  [[nodiscard]] Status Load();
  // The user-notification fd of a loaded filter with an SCMP_ACT_NOTIFY rule.
  [[nodiscard]] Result<UniqueFd> NotifyFd();

 private:
  explicit SeccompFilter(scmp_filter_ctx ctx) : ctx_(ctx) {}
  scmp_filter_ctx ctx_ = nullptr;
};

// prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT): afterwards only read, write, _exit (SYS_exit, not
// exit_group) and sigreturn are allowed; anything else is SIGKILL.
[[nodiscard]] Status EnterStrictMode();
// prctl(PR_GET_SECCOMP): 0 off, 1 strict, 2 filter.
[[nodiscard]] int SeccompMode();
// prctl(PR_SET_NO_NEW_PRIVS, 1) / PR_GET_NO_NEW_PRIVS.
[[nodiscard]] Status SetNoNewPrivs();
[[nodiscard]] bool NoNewPrivs();

// libseccomp's probe of the kernel (seccomp_api_get): 5 and up means user notification works
// (SECCOMP_RET_USER_NOTIF, SECCOMP_GET_NOTIF_SIZES, Linux 5.0).
[[nodiscard]] unsigned int SeccompApiLevel();
[[nodiscard]] bool UserNotificationSupported();

// The supervisor's answer: `val` is the call's return value, or `error` (> 0) its errno.
struct NotifyReply {
  int64_t val = 0;
  int error = 0;
};
using NotifyHandler = std::function<NotifyReply(const seccomp_notif&)>;

// Answers notifications on `fd` with `handler` until `count` were answered; fails with
// ETIMEDOUT after `timeout`, or with "filter gone" if every filtered task exited first.
// Returns how many were answered.
[[nodiscard]] Result<int> SuperviseNotifications(int fd, const NotifyHandler& handler, int count,
                                                 std::chrono::milliseconds timeout);

}  // namespace ckc

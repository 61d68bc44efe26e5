// Process file descriptors (pidfd_open, pidfd_send_signal, pidfd_getfd, waitid(P_PIDFD),
// setns with a pidfd) and clone3 with the arguments Spawn does not take (set_tid,
// CLONE_CLEAR_SIGHAND), each system call wrapped once.
//
//   CKC_TRY(fd, PidfdOpen(child.pid()));             // ENOSYS before 5.3
//   CKC_TRY(gone, PidfdPoll(fd.get(), 0ms));           // false while the process runs
//   CKC_CHECK(PidfdSendSignal(fd.get(), SIGTERM));
//   CKC_TRY(info, WaitPidfd(fd.get()));                // info.si_code == CLD_KILLED
//   CKC_TRY(dup, PidfdGetfd(fd.get(), 3));             // fd 3 of that process, here
//   CKC_CHECK(SetnsPidfd(fd.get(), CLONE_NEWUTS | CLONE_NEWNET));
//
//   CKC_TRY(c, Clone3Spawn({.flags = CLONE_NEWPID, .set_tid = {1, 4242}}, [] { return 0; }));
//   CKC_TRY(info, c.Wait(5s));                          // killed and reaped if left unreaped
//
// Probes answer whether the kernel has an interface (ENOSYS, E2BIG or an EINVAL the man page
// gives for an unknown flag) without depending on version numbers.
#pragma once

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include "fd.h"
#include "result.h"

namespace ckc {

// pidfd_open(2).
[[nodiscard]] Result<UniqueFd> PidfdOpen(pid_t pid, unsigned int flags = 0);
// pidfd_send_signal(2) without a siginfo (as kill(2) with a positive pid).
[[nodiscard]] Status PidfdSendSignal(int pidfd, int sig);
// pidfd_getfd(2): a duplicate, in the caller, of `target_fd` of the process behind `pidfd`.
[[nodiscard]] Result<UniqueFd> PidfdGetfd(int pidfd, int target_fd);
// waitid(P_PIDFD, pidfd, ..., options); EINTR retried. With WNOHANG, si_pid is 0 when the
// process has not changed state.
[[nodiscard]] Result<siginfo_t> WaitPidfd(int pidfd, int options = WEXITED);
// poll(2) for POLLIN: true once the process has exited (readable), false if `timeout` passed.
[[nodiscard]] Result<bool> PidfdPoll(int pidfd, std::chrono::milliseconds timeout);
// setns(2) with a pidfd and a mask of CLONE_NEW* flags (5.8): joins all of them at once.
[[nodiscard]] Status SetnsPidfd(int pidfd, int nstypes);

// --- probes: an error names the missing interface, ok means the kernel has it -------------
// pidfd_open on the caller itself.
[[nodiscard]] Status ProbePidfdOpen();
// waitid(P_PIDFD) with WNOHANG on a pidfd of the caller (no child of its own: ECHILD).
[[nodiscard]] Status ProbeWaitPidfd();
// pidfd_getfd of one of the caller's own descriptors.
[[nodiscard]] Status ProbePidfdGetfd();
// setns(pidfd of the caller, CLONE_NEWUTS) in a child: EINVAL where a pidfd is not accepted.
[[nodiscard]] Status ProbeSetnsPidfd();

// --- clone3 with extended arguments (pidfd_clone3.cpp) ---------------------------------------

struct Clone3Args {
  uint64_t flags = 0;               // CLONE_* (CLONE_PIDFD is always added)
  std::vector<pid_t> set_tid = {};  // the child's PID per level, innermost namespace first
  int exit_signal = SIGCHLD;
};

// clone3(2) returning like fork: 0 in the child; in the parent the child's pid (as the caller
// sees it), with its pidfd in *pidfd.
[[nodiscard]] Result<pid_t> Clone3Fork(const Clone3Args& args, UniqueFd* pidfd);

// A child made by Clone3Spawn, owned through its pidfd: killed (SIGKILL) and reaped if it is
// destroyed unreaped.
class PidfdChild {
 public:
  PidfdChild() = default;
  PidfdChild(pid_t pid, UniqueFd pidfd) : pid_(pid), pidfd_(std::move(pidfd)), reaped_(false) {}
  PidfdChild(PidfdChild&& other) noexcept
      : pid_(std::exchange(other.pid_, -1)),
        pidfd_(std::move(other.pidfd_)),
        reaped_(std::exchange(other.reaped_, true)) {}
  PidfdChild& operator=(PidfdChild&& other) noexcept;
  ~PidfdChild() { KillAndReap(); }

  [[nodiscard]] pid_t pid() const { return pid_; }
  [[nodiscard]] int pidfd() const { return pidfd_.get(); }
  // Waits up to `timeout` for the child's exit and reaps it; ETIMEDOUT (child left running).
  [[nodiscard]] Result<siginfo_t> Wait(std::chrono::milliseconds timeout);

 private:
  void KillAndReap();

  pid_t pid_ = -1;
  UniqueFd pidfd_;
  bool reaped_ = true;
};

// clone3 a child that runs `fn` and _exit()s with its return value (255 if it throws).
[[nodiscard]] Result<PidfdChild> Clone3Spawn(const Clone3Args& args,
                                             const std::function<int()>& fn);

// clone3 with set_tid (5.5): a set_tid_size beyond the nesting limit is refused with EINVAL by
// a kernel that knows the field, E2BIG by one whose clone_args are shorter; nothing is created.
[[nodiscard]] Status ProbeClone3SetTid();
// clone3 with CLONE_CLEAR_SIGHAND (5.5): a child that exits at once; EINVAL where the flag is
// unknown.
[[nodiscard]] Status ProbeClone3ClearSighand();

}  // namespace ckc

#include "pidfd.h"

#include <poll.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fmt/format.h>

#include "process.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace ckc {

Result<UniqueFd> PidfdOpen(pid_t pid, unsigned int flags) {
  long fd = ::syscall(SYS_pidfd_open, pid, flags);
  if (fd < 0) return ErrnoError("pidfd_open", fmt::format("pid {}", pid));
  return UniqueFd(static_cast<int>(fd));
}

Status PidfdSendSignal(int pidfd, int sig) {
  if (::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0) != 0) {
    return ErrnoError("pidfd_send_signal", fmt::format("pidfd {} {}", pidfd, SignalName(sig)));
  }
  return {};
}

Result<UniqueFd> PidfdGetfd(int pidfd, int target_fd) {
  long fd = ::syscall(SYS_pidfd_getfd, pidfd, target_fd, 0);
  if (fd < 0) return ErrnoError("pidfd_getfd", fmt::format("pidfd {} fd {}", pidfd, target_fd));
  return UniqueFd(static_cast<int>(fd));
}

Result<siginfo_t> WaitPidfd(int pidfd, int options) {
  siginfo_t info{};
  for (;;) {
    if (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &info, options) == 0) {
      return info;
    }
    if (errno != EINTR) return ErrnoError("waitid", fmt::format("P_PIDFD {}", pidfd));
  }
}

Result<bool> PidfdPoll(int pidfd, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{pidfd, POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(std::max<long>(left.count(), 0)));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("poll", fmt::format("pidfd {}", pidfd));
    return n > 0 && (p.revents & POLLIN) != 0;
  }
}

Status SetnsPidfd(int pidfd, int nstypes) {
  if (::setns(pidfd, nstypes) != 0) {
    return ErrnoError("setns", fmt::format("pidfd {} types {:#x}", pidfd, nstypes));
  }
  return {};
}

Status ProbePidfdOpen() {
  if (auto self = PidfdOpen(::getpid()); !self) return Propagate(self.error());
  return {};
}

Status ProbeWaitPidfd() {
  CKC_TRY(self, PidfdOpen(::getpid()));
  auto info = WaitPidfd(self.get(), WEXITED | WNOHANG);
  // The caller is not its own child: a kernel with P_PIDFD says ECHILD, one without EINVAL.
  if (!info && info.error().err != ECHILD) return Propagate(info.error());
  return {};
}

Status ProbePidfdGetfd() {
  CKC_TRY(self, PidfdOpen(::getpid()));
  if (auto dup = PidfdGetfd(self.get(), self.get()); !dup) return Propagate(dup.error());
  return {};
}

Status ProbeSetnsPidfd() {
  // In a child, so that even a kernel that accepted it moves nobody that matters; rejoining the
  // child's own uts namespace succeeds with privilege and fails with EPERM without it.
  CKC_TRY(child, Spawn({}, [] {
            auto self = PidfdOpen(::getpid());
            if (!self) return 100;
            return ::setns(self->get(), CLONE_NEWUTS) == 0 || errno == EPERM ? 0 : errno;
          }));
  CKC_TRY(st, child.Wait(std::chrono::seconds(10)));
  if (st.Exited(0)) return {};
  if (st.exited && st.code != 100) {
    return std::unexpected(Error{st.code, "setns", "pidfd of the caller, CLONE_NEWUTS", {}});
  }
  return Failure("setns probe", "child", st.Describe());
}

}  // namespace ckc

// clone3 with set_tid and CLONE_CLEAR_SIGHAND (see pidfd.h): what Spawn in process.h does not
// pass to the kernel.
#include <linux/sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "pidfd.h"

namespace ckc {

Result<pid_t> Clone3Fork(const Clone3Args& args, UniqueFd* pidfd) {
  int fd = -1;
  clone_args ca{};
  ca.flags = args.flags | CLONE_PIDFD;
  ca.pidfd = reinterpret_cast<uint64_t>(&fd);
  ca.exit_signal = static_cast<uint64_t>(args.exit_signal);
  if (!args.set_tid.empty()) {
    ca.set_tid = reinterpret_cast<uint64_t>(args.set_tid.data());
    ca.set_tid_size = args.set_tid.size();
  }
  long pid = ::syscall(SYS_clone3, &ca, sizeof ca);
  if (pid < 0) {
    return ErrnoError(
        "clone3", fmt::format("flags={:#x} set_tid=[{}]", ca.flags, fmt::join(args.set_tid, ",")));
  }
  if (pid > 0) pidfd->Reset(fd);
  return static_cast<pid_t>(pid);
}

PidfdChild& PidfdChild::operator=(PidfdChild&& other) noexcept {
  if (this != &other) {
    KillAndReap();
    pid_ = std::exchange(other.pid_, -1);
    pidfd_ = std::move(other.pidfd_);
    reaped_ = std::exchange(other.reaped_, true);
  }
  return *this;
}

Result<siginfo_t> PidfdChild::Wait(std::chrono::milliseconds timeout) {
  if (reaped_) return Failure("wait", fmt::format("pid {}", pid_), "already reaped");
  CKC_TRY(ended, PidfdPoll(pidfd_.get(), timeout));
  if (!ended) {
    errno = ETIMEDOUT;
    return ErrnoError("wait", fmt::format("pid {}", pid_));
  }
  CKC_TRY(info, WaitPidfd(pidfd_.get()));
  reaped_ = true;
  return info;
}

void PidfdChild::KillAndReap() {
  if (reaped_ || !pidfd_.valid()) return;
  (void)PidfdSendSignal(pidfd_.get(), SIGKILL);
  (void)WaitPidfd(pidfd_.get());
  reaped_ = true;
}

Result<PidfdChild> Clone3Spawn(const Clone3Args& args, const std::function<int()>& fn) {
  UniqueFd pidfd;
  CKC_TRY(pid, Clone3Fork(args, &pidfd));
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    int rc = 255;
    try {
      rc = fn();
    } catch (...) {
      rc = 255;
    }
    ::_exit(rc);
  }
  return PidfdChild(pid, std::move(pidfd));
}

Status ProbeClone3SetTid() {
  // One entry more than the deepest nesting: refused before anything is created.
  std::vector<pid_t> too_many(33, 1);
  UniqueFd pidfd;
  auto pid = Clone3Fork({.set_tid = too_many}, &pidfd);
  if (pid && *pid == 0) ::_exit(0);
  if (pid) {
    (void)WaitPidfd(pidfd.get());
    return Failure("clone3", "set_tid_size=33", "a child was created");
  }
  if (pid.error().err == EINVAL) return {};
  return Propagate(pid.error());
}

Status ProbeClone3ClearSighand() {
  CKC_TRY(child, Clone3Spawn({.flags = CLONE_CLEAR_SIGHAND}, [] { return 0; }));
  if (auto info = child.Wait(std::chrono::seconds(10)); !info) return Propagate(info.error());
  return {};
}

}  // namespace ckc

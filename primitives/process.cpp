#include "process.h"

#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <fmt/format.h>
#include <cstring>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace ckc {

std::string SignalName(int sig) {
  if (const char* abbrev = sigabbrev_np(sig)) return fmt::format("SIG{}", abbrev);
  return fmt::format("signal {}", sig);
}

std::string ExitStatus::Describe() const {
  std::string s;
  if (timed_out) s = "timed out (then ";
  if (exited) s += fmt::format("exited with {}", code);
  if (signaled) s += fmt::format("killed by {}", SignalName(signal));
  if (timed_out) s += ")";
  return s;
}

Result<pid_t> Clone3(uint64_t flags, int* pidfd, int cgroup_fd) {
  clone_args args{};
  args.flags = flags | CLONE_PIDFD;
  args.pidfd = reinterpret_cast<uint64_t>(pidfd);
  args.exit_signal = SIGCHLD;
  if (cgroup_fd >= 0) {
    args.flags |= CLONE_INTO_CGROUP;
    args.cgroup = static_cast<uint64_t>(cgroup_fd);
  }
  long pid = ::syscall(SYS_clone3, &args, sizeof args);
  if (pid < 0) return ErrnoError("clone3", fmt::format("flags={:#x}", args.flags));
  return static_cast<pid_t>(pid);
}

Result<Child> Spawn(const SpawnOptions& options, const std::function<int()>& fn) {
  int pidfd = -1;
  pid_t parent = ::getpid();
  CKC_TRY(pid, Clone3(options.flags, &pidfd, options.cgroup_fd));
  if (pid == 0) {
    if (options.die_with_parent) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      // The parent may have died between clone3 and prctl. A parent outside the child's pid
      // namespace (CLONE_NEWPID, or a caller that unshare()d or setns()ed its children into
      // another pid namespace) shows as ppid 0, so only a visible, different ppid means it died.
      pid_t ppid = ::getppid();
      if (ppid != 0 && ppid != parent && (options.flags & CLONE_NEWPID) == 0) ::_exit(254);
    }
    if (options.own_process_group) ::setpgid(0, 0);
    int rc = 255;
    try {
      rc = fn();
    } catch (...) {
      rc = 255;
    }
    ::_exit(rc);
  }
  Child child(pid, UniqueFd(pidfd));
  child.reaped_ = false;
  return child;
}

Child& Child::operator=(Child&& other) noexcept {
  if (this != &other) {
    KillAndReap();
    pid_ = std::exchange(other.pid_, -1);
    pidfd_ = std::move(other.pidfd_);
    reaped_ = std::exchange(other.reaped_, true);
  }
  return *this;
}

Child::~Child() { KillAndReap(); }

void Child::KillAndReap() {
  if (reaped_ || pid_ <= 0) return;
  ::kill(-pid_, SIGKILL);  // its process group, if it made one
  ::syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGKILL, nullptr, 0);
  (void)Reap();
}

pid_t Child::Release() {
  reaped_ = true;
  pidfd_.Reset();
  return pid_;
}

Status Child::Signal(int sig) {
  if (::syscall(SYS_pidfd_send_signal, pidfd_.get(), sig, nullptr, 0) != 0) {
    return ErrnoError("pidfd_send_signal", fmt::format("pid {} {}", pid_, SignalName(sig)));
  }
  return {};
}

Result<ExitStatus> Child::Reap() {
  siginfo_t info{};
  for (;;) {
    if (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd_.get()), &info, WEXITED) ==
        0)
      break;
    if (errno == EINTR) continue;
    return ErrnoError("waitid", fmt::format("pid {}", pid_));
  }
  reaped_ = true;
  ExitStatus st;
  if (info.si_code == CLD_EXITED) {
    st.exited = true;
    st.code = info.si_status;
  } else {
    st.signaled = true;
    st.signal = info.si_status;
  }
  return st;
}

Result<std::optional<ExitStatus>> Child::TryWait(std::chrono::milliseconds timeout) {
  if (reaped_) return Failure("wait", fmt::format("pid {}", pid_), "already reaped");
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{pidfd_.get(), POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(std::max<long>(left.count(), 0)));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("poll", fmt::format("pidfd of {}", pid_));
    if (n == 0) return std::optional<ExitStatus>{};
    CKC_TRY(st, Reap());
    return std::optional<ExitStatus>(st);
  }
}

Result<ExitStatus> Child::Wait(std::chrono::milliseconds timeout) {
  CKC_TRY(st, TryWait(timeout));
  if (st) return *st;
  ::kill(-pid_, SIGKILL);
  (void)Signal(SIGKILL);
  CKC_TRY(killed, Reap());
  killed.timed_out = true;
  return killed;
}

}  // namespace ckc

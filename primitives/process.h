// Spawn: a child process made with clone3(CLONE_PIDFD), optionally in new namespaces and
// (CLONE_INTO_CGROUP) a given cgroup, that runs a function and exits with its return value.
//
//   Result<Child> c = Spawn({.flags = CLONE_NEWUTS}, [] { return sethostname("x", 1) ? 1 : 0; });
//   Result<ExitStatus> st = c->Wait(std::chrono::seconds(5));  // kills the child on timeout
//   st->Exited(0)  /  st->KilledBy(SIGKILL)  /  st->timed_out   (KilledBy is false on a timeout)
//
// The child gets PR_SET_PDEATHSIG(SIGKILL) and its own process group, so a test that dies or
// times out takes its descendants with it. A Child that is destroyed unreaped is killed and reaped.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>

#include "fd.h"
#include "result.h"

namespace ckc {

using namespace std::chrono_literals;

struct ExitStatus {
  bool exited = false;  // ended through exit(); `code` is valid
  int code = 0;
  bool signaled = false;  // killed by a signal; `signal` is valid
  int signal = 0;
  bool timed_out = false;  // outlived its wait and was killed by Wait()

  [[nodiscard]] bool Exited(int c) const { return exited && code == c; }
  // Died of `sig` from someone other than the harness: false after a timeout, whose SIGKILL is
  // Wait()'s own (a child that merely stalled must never pass as killed by the kernel).
  [[nodiscard]] bool KilledBy(int sig) const { return signaled && signal == sig && !timed_out; }
  // "exited with 3", "killed by SIGKILL", "timed out (then killed by SIGKILL)".
  [[nodiscard]] std::string Describe() const;
};

struct SpawnOptions {
  uint64_t flags = 0;             // CLONE_NEW* flags (CLONE_PIDFD is always added)
  int cgroup_fd = -1;             // >= 0: CLONE_INTO_CGROUP this cgroup (cgroup v2 only)
  bool die_with_parent = true;    // PR_SET_PDEATHSIG(SIGKILL)
  bool own_process_group = true;  // setpgid(0, 0), so a kill reaches grandchildren too
};

class Child {
 public:
  Child() = default;
  Child(pid_t pid, UniqueFd pidfd) : pid_(pid), pidfd_(std::move(pidfd)) {}
  // A moved-from Child owns nothing (its destructor must not kill the moved child).
  Child(Child&& other) noexcept
      : pid_(std::exchange(other.pid_, -1)),
        pidfd_(std::move(other.pidfd_)),
        reaped_(std::exchange(other.reaped_, true)) {}
  Child& operator=(Child&& other) noexcept;
  ~Child();

  [[nodiscard]] pid_t pid() const { return pid_; }
  [[nodiscard]] int pidfd() const { return pidfd_.get(); }

  // Waits up to `timeout` for the child to end; if it is still running then, kills its process
  // group with SIGKILL, reaps it and reports timed_out.
  [[nodiscard]] Result<ExitStatus> Wait(std::chrono::milliseconds timeout = 30s);
  // Waits up to `timeout`; nullopt if the child is still running (it is left running).
  [[nodiscard]] Result<std::optional<ExitStatus>> TryWait(std::chrono::milliseconds timeout);
  // Sends `sig` through the pidfd (never to a recycled pid).
  [[nodiscard]] Status Signal(int sig);
  // Forgets the child without killing it; returns its pid.
  pid_t Release();

 private:
  [[nodiscard]] Result<ExitStatus> Reap();
  void KillAndReap();

  pid_t pid_ = -1;
  UniqueFd pidfd_;
  bool reaped_ = true;
  friend Result<Child> Spawn(const SpawnOptions&, const std::function<int()>&);
};

// clone3() a child that runs `fn` and _exit()s with its return value (255 if it throws).
[[nodiscard]] Result<Child> Spawn(const SpawnOptions& options, const std::function<int()>& fn);

// Raw clone3 wrapper for callers that need the fork-like return (0 in the child).
// Returns the child's pid in the parent and fills *pidfd.
[[nodiscard]] Result<pid_t> Clone3(uint64_t flags, int* pidfd, int cgroup_fd = -1);

// Name of a signal ("SIGKILL").
[[nodiscard]] std::string SignalName(int sig);

}  // namespace ckc

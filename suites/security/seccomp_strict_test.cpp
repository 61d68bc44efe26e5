// Seccomp strict mode rows (seed D "seccomp": "Original seccomp only allows read(), write(),
// exit(), sigreturn()"; seccomp(2) SECCOMP_SET_MODE_STRICT). The child talks over pipes with
// read/write only and leaves through SYS_exit (glibc's _exit is exit_group, which strict mode
// does not allow).
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>

#include "ckc_test.h"
#include "seccomp_filter.h"

namespace ckc::test {
namespace {

// A pipe; both ends close-on-exec.
struct Pipe {
  UniqueFd read_end, write_end;
};
Result<Pipe> MakePipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return ErrnoError("pipe2");
  return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

// Reads until `want` has arrived (empty: until EOF), EOF, or the timeout; returns what was read.
std::string ReadUntil(int fd, const std::string& want, std::chrono::milliseconds timeout) {
  std::string got;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (want.empty() || got.find(want) == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    struct pollfd p = {fd, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    char buf[256];
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  return got;
}

void WriteAll(int fd, std::string_view s) { (void)!::write(fd, s.data(), s.size()); }

int g_strict_out = -1;
void StrictHandler(int) {
  static const char kMsg[] = "handled\n";
  (void)!::write(g_strict_out, kMsg, sizeof(kMsg) - 1);
}

TEST(SeccompStrict, AllowsReadWrite) {
  // Source: D "seccomp"; seccomp(2) SECCOMP_SET_MODE_STRICT: "The only system calls that the
  // calling thread is permitted to make are read(2), write(2), _exit(2) (but not exit_group(2)),
  // and sigreturn(2)". Each of the four is used and observed.
  // Negative control: a kernel built without CONFIG_SECCOMP skips config:CONFIG_SECCOMP; a strict
  // mode that also killed sigreturn leaves no "echo:bye" and a SIGKILL instead of exit 42: fail.
  CKC_BEHAVIOUR("seccomp.strict-allows-rw", "D",
                "a thread in SECCOMP_MODE_STRICT can still use read(), write(), _exit() and "
                "sigreturn()");
  CKC_REQUIRE(Config("CONFIG_SECCOMP"));
  ASSERT_OK_AND_ASSIGN(Pipe to_child, MakePipe());
  ASSERT_OK_AND_ASSIGN(Pipe from_child, MakePipe());
  ASSERT_OK_AND_ASSIGN(
      Child child, Spawn({}, [&] {
        struct sigaction sa {};
        sa.sa_handler = StrictHandler;
        sa.sa_flags = SA_RESTART;  // read() resumes after the handler returns through rt_sigreturn
        g_strict_out = from_child.write_end.get();
        if (::sigaction(SIGUSR1, &sa, nullptr) != 0 || !EnterStrictMode()) return 3;
        WriteAll(g_strict_out, "strict\n");
        char buf[64];
        ssize_t n = ::read(to_child.read_end.get(), buf, sizeof(buf));
        WriteAll(g_strict_out, "echo:");
        if (n > 0) WriteAll(g_strict_out, std::string_view(buf, static_cast<size_t>(n)));
        ::syscall(SYS_exit, 42);
        return 0;
      }));
  int in = from_child.read_end.get();
  std::string seen = ReadUntil(in, "strict\n", 10s);
  CKC_ASSERT_SETUP(seen == "strict\n") << "the child did not report entering strict mode";
  ASSERT_OK(child.Signal(SIGUSR1));
  seen = ReadUntil(in, "handled\n", 10s);
  EXPECT_EQ(seen, "handled\n") << "write() from a signal handler in strict mode";
  WriteAll(to_child.write_end.get(), "bye\n");
  seen = ReadUntil(in, "echo:bye\n", 10s);
  EXPECT_EQ(seen, "echo:bye\n") << "read() then write() after the handler returned (rt_sigreturn)";
  ASSERT_OK_AND_ASSIGN(ExitStatus st, child.Wait(10s));
  EXPECT_TRUE(st.Exited(42)) << "expected _exit(42) to be allowed, saw " << st.Describe();
}

TEST(SeccompStrict, OtherCallKills) {
  // Source: seccomp(2) SECCOMP_SET_MODE_STRICT: "Other system calls result in the delivery of a
  // SIGKILL signal".
  // Negative control: a kernel built without CONFIG_SECCOMP skips config:CONFIG_SECCOMP; a child
  // that stalls in strict mode is killed by Wait's timeout, which KilledBy does not count: fail.
  CKC_BEHAVIOUR("seccomp.strict-kills", "D",
                "in SECCOMP_MODE_STRICT, any system call outside the permitted four ends the "
                "process with SIGKILL");
  CKC_REQUIRE(Config("CONFIG_SECCOMP"));
  ASSERT_OK_AND_ASSIGN(Pipe from_child, MakePipe());
  ASSERT_OK_AND_ASSIGN(Child child, Spawn({}, [&] {
                         int out = from_child.write_end.get();
                         if (!EnterStrictMode()) return 3;
                         WriteAll(out, "strict\n");
                         ::syscall(SYS_getpid);
                         WriteAll(out, "survived getpid\n");
                         ::syscall(SYS_exit, 0);
                         return 0;
                       }));
  from_child.write_end.Reset();
  std::string seen = ReadUntil(from_child.read_end.get(), "", 10s);
  ASSERT_OK_AND_ASSIGN(ExitStatus st, child.Wait(10s));
  CKC_ASSERT_SETUP(seen.substr(0, 7) == "strict\n")
      << "the child did not enter strict mode; " << st.Describe();
  EXPECT_EQ(seen, "strict\n") << "the child must not get past getpid()";
  // The kernel's kill, not Wait's: KilledBy is false when the wait timed out and killed it.
  EXPECT_FALSE(st.timed_out) << "the child outlived its getpid() by 10 s: " << st.Describe();
  EXPECT_TRUE(st.KilledBy(SIGKILL))
      << "expected SIGKILL for getpid() in strict mode, saw " << st.Describe();
}

}  // namespace
}  // namespace ckc::test

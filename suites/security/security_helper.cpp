// The helper program the security rows execve() to observe what survives an exec (file
// capabilities, ambient capabilities, seccomp filters). It is the suite binary itself, run as
// `ckc-suite-security --ckc-security-helper <op>`: a constructor catches that argument before
// GoogleTest's main, so the helper travels with the suite (into the VMs too). It reports by
// exit status:
//
//   bind <port>        0 bound, 10 EACCES, 11 other error; raises CAP_NET_BIND_SERVICE into E
//                      first if it is in P (file capability "=p")
//   has-ambient <cap>  0 if <cap> is in CapAmb, CapPrm and CapEff, else 1
//   uname-errno        the errno of uname(2) (0 if it succeeded)
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "capabilities.h"
#include "fd.h"
#include "security_support.h"

namespace {

constexpr int kUsage = 64;

// "CapEff:\t0000000000000400" -> the mask.
unsigned long long StatusMask(const std::string& status, const char* key) {
  auto pos = status.find(key);
  if (pos == std::string::npos) return 0;
  return std::strtoull(status.c_str() + pos + std::strlen(key), nullptr, 16);
}

int Bind(int port) {
  if (ckc::HasCapability(CAP_NET_BIND_SERVICE, ckc::CapSet::kPermitted).value_or(false)) {
    (void)ckc::RaiseCapabilities({CAP_NET_BIND_SERVICE}, {ckc::CapSet::kEffective});
  }
  std::fprintf(stderr, "ckc-security-helper: uid %d caps `%s`\n", ::getuid(),
               ckc::ProcessCapabilities().c_str());
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 11;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) return 0;
  return errno == EACCES ? 10 : 11;
}

int HasAmbient(int cap) {
  auto status = ckc::ReadFile("/proc/self/status");
  if (!status) return 2;
  unsigned long long bit = 1ULL << cap;
  bool all = (StatusMask(*status, "CapAmb:") & bit) && (StatusMask(*status, "CapPrm:") & bit) &&
             (StatusMask(*status, "CapEff:") & bit);
  return all ? 0 : 1;
}

int UnameErrno() {
  struct utsname u {};
  return ::uname(&u) == 0 ? 0 : errno;
}

}  // namespace

int HelperMain(int argc, char** argv) {
  std::string op = argc > 0 ? argv[0] : "";
  if (op == "bind" && argc == 2) return Bind(std::atoi(argv[1]));
  if (op == "has-ambient" && argc == 2) return HasAmbient(std::atoi(argv[1]));
  if (op == "uname-errno") return UnameErrno();
  std::fprintf(stderr,
               "usage: --ckc-security-helper bind <port> | has-ambient <cap> | uname-errno\n");
  return kUsage;
}

// glibc passes (argc, argv, envp) to ELF constructors.
__attribute__((constructor)) void RunAsHelper(int argc, char** argv, char**) {
  if (argc >= 2 && std::strcmp(argv[1], ckc::test::kHelperFlag) == 0)
    ::_exit(HelperMain(argc - 2, argv + 2));
}

#include "security_support.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <filesystem>

namespace ckc::test {

std::string HelperPath() {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("/proc/self/exe") : self.string();
}

Result<UniqueFd> OpenHelper(const std::string& path) { return OpenFile(path, O_PATH); }

int ExecHelper(int fd, const std::vector<std::string>& args) {
  std::vector<char*> argv;
  static char name[] = "ckc-security-helper";
  argv.push_back(name);
  argv.push_back(const_cast<char*>(kHelperFlag));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  ::syscall(SYS_execveat, fd, "", argv.data(), environ, AT_EMPTY_PATH);
  return 127;
}

std::string BindOutcome(int port) {
  UniqueFd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s) return Outcome(-1);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  return Outcome(::bind(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)));
}

}  // namespace ckc::test

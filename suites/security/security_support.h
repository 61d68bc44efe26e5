// Support for the security rows: the helper they execve() (the suite binary itself with
// --ckc-security-helper, see security_helper.cpp) and small probes.
//
//   ASSERT_OK_AND_ASSIGN(UniqueFd helper, OpenHelper());
//   ... in a child: return ExecHelper(helper.get(), {"bind", "80"});   // helper's exit code
#pragma once

#include <string>
#include <vector>

#include "ckc_test.h"
#include "fd.h"

namespace ckc::test {

inline constexpr const char* kHelperFlag = "--ckc-security-helper";

// The running suite binary (/proc/self/exe), which doubles as the helper.
std::string HelperPath();
// An O_PATH descriptor of `path`: execveat() through it needs no search permission on the
// directories above it (the run directory is 0700), only exec permission on the file.
Result<UniqueFd> OpenHelper(const std::string& path = HelperPath());
// In a child: execveat(fd, "", {name, --ckc-security-helper, args...}, AT_EMPTY_PATH); 127 if
// the exec itself failed.
int ExecHelper(int fd, const std::vector<std::string>& args);
// bind(2) of a TCP socket to 0.0.0.0:<port>: "ok" or "!ERRNO".
std::string BindOutcome(int port);

}  // namespace ckc::test

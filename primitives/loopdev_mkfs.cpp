#include "loopdev_mkfs.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>

#include "process.h"

namespace ckc {

std::string FindMkfsExt4() {
  for (const char* p : {"/usr/sbin/mkfs.ext4", "/sbin/mkfs.ext4", "/usr/sbin/mke2fs",
                        "/sbin/mke2fs", "/bin/mke2fs", "/usr/bin/mke2fs"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return "";
}

Status MakeExt4(const std::string& mkfs, const std::string& device) {
  CKC_TRY(child, Spawn({}, [&] {
            int null = ::open("/dev/null", O_WRONLY);
            ::dup2(null, STDOUT_FILENO);
            ::dup2(null, STDERR_FILENO);
            ::execl(mkfs.c_str(), mkfs.c_str(), "-F", device.c_str(), nullptr);
            return 127;
          }));
  CKC_TRY(st, child.Wait(std::chrono::seconds(20)));
  if (!st.Exited(0)) return Failure(mkfs, device, st.Describe());
  return {};
}

}  // namespace ckc

#include "loopdev.h"

#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <fmt/format.h>
#include <cstring>

namespace ckc {

namespace {

// LOOP_CONFIGURE (5.8) attaches and configures in one step; older kernels take LOOP_SET_FD then
// LOOP_SET_STATUS64.
Status Configure(int loop_fd, int backing_fd, const std::string& path) {
  loop_config config{};
  config.fd = static_cast<uint32_t>(backing_fd);
  config.info.lo_flags = LO_FLAGS_AUTOCLEAR;
  if (::ioctl(loop_fd, LOOP_CONFIGURE, &config) == 0) return {};
  if (errno != EINVAL && errno != ENOTTY) return ErrnoError("ioctl(LOOP_CONFIGURE)", path);
  if (::ioctl(loop_fd, LOOP_SET_FD, backing_fd) != 0) return ErrnoError("ioctl(LOOP_SET_FD)", path);
  loop_info64 info{};
  info.lo_flags = LO_FLAGS_AUTOCLEAR;
  if (::ioctl(loop_fd, LOOP_SET_STATUS64, &info) != 0) {
    int saved = errno;
    ::ioctl(loop_fd, LOOP_CLR_FD, 0);
    errno = saved;
    return ErrnoError("ioctl(LOOP_SET_STATUS64)", path);
  }
  return {};
}

}  // namespace

Result<LoopDevice> LoopDevice::Create(const std::string& backing, uint64_t size) {
  CKC_TRY(file, OpenFile(backing, O_RDWR | O_CREAT | O_TRUNC, 0600));
  if (::ftruncate(file.get(), static_cast<off_t>(size)) != 0)
    return ErrnoError("ftruncate", backing);
  CKC_TRY(control, OpenFile("/dev/loop-control", O_RDWR));
  // Another process may take the free device between GET_FREE and the attach: retry.
  for (int attempt = 0; attempt < 20; ++attempt) {
    int n = ::ioctl(control.get(), LOOP_CTL_GET_FREE);
    if (n < 0) return ErrnoError("ioctl(LOOP_CTL_GET_FREE)", "/dev/loop-control");
    std::string path = fmt::format("/dev/loop{}", n);
    CKC_TRY(loop_fd, OpenFile(path, O_RDWR));
    auto st = Configure(loop_fd.get(), file.get(), path);
    if (!st && st.error().err == EBUSY) continue;
    CKC_CHECK(st);
    struct stat sb {};
    if (::fstat(loop_fd.get(), &sb) != 0) return ErrnoError("fstat", path);
    LoopDevice dev;
    dev.path_ = path;
    dev.dev_ = sb.st_rdev;
    dev.fd_ = std::move(loop_fd);
    return dev;
  }
  return Failure("loop", backing, "no free loop device after 20 attempts");
}

Result<UniqueFd> LoopDevice::Open(int flags) const { return OpenFile(path_, flags); }

namespace {
std::string SchedulerFile(const std::string& path) {
  return fmt::format("/sys/block/{}/queue/scheduler", path.substr(path.rfind('/') + 1));
}
}  // namespace

Status LoopDevice::SetScheduler(const std::string& name) {
  std::string file = SchedulerFile(path_);
  CKC_TRY(text, ReadFile(file));  // "[none] mq-deadline bfq"
  auto open = text.find('['), close = text.find(']');
  if (saved_scheduler_.empty() && open != std::string::npos && close != std::string::npos) {
    saved_scheduler_ = text.substr(open + 1, close - open - 1);
  }
  return WriteFile(file, name);
}

void LoopDevice::Detach() {
  if (!fd_) return;
  if (!saved_scheduler_.empty()) (void)WriteFile(SchedulerFile(path_), saved_scheduler_);
  ::ioctl(fd_.get(), LOOP_CLR_FD, 0);
  fd_.Reset();
}

}  // namespace ckc

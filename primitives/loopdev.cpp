#include "loopdev.h"

#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <fmt/format.h>
#include <cstring>
#include <utility>

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
    dev.record_.device = fmt::format("loop{}", n);
    // The path as the kernel resolved it, which is what a sweep will read back.
    auto seen = ReadFile(fmt::format("/sys/block/loop{}/loop/backing_file", n));
    std::string backing_seen = seen ? *seen : backing;
    while (!backing_seen.empty() && backing_seen.back() == '\n') backing_seen.pop_back();
    dev.record_.fields["backing"] = backing_seen;
    CKC_CHECK(RecordDevice(dev.record_));
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
  if (!record_.fields.contains("scheduler") && open != std::string::npos &&
      close != std::string::npos) {
    // Recorded before the switch, so a run killed right after it still gets it restored.
    record_.fields["scheduler"] = text.substr(open + 1, close - open - 1);
    CKC_CHECK(RecordDevice(record_));
  }
  CKC_CHECK(WriteFile(file, name));
  // Some kernels accept the write and keep the old scheduler (5.10's loop devices offer only
  // "[none]" and take "bfq" silently): the choice is what reads back. (EINVAL with a detail;
  // a scheduler the kernel does not know is EINVAL from the write, without one.)
  CKC_TRY(now, ReadFile(file));
  while (!now.empty() && now.back() == '\n') now.pop_back();
  if (now.find("[" + name + "]") == std::string::npos) {
    return std::unexpected(Error{EINVAL, "write", file,
                                 fmt::format("`{}` not taken: {}", name, now)});
  }
  return {};
}

LoopDevice& LoopDevice::operator=(LoopDevice&& other) noexcept {
  if (this != &other) {
    Detach();
    path_ = std::exchange(other.path_, {});
    dev_ = std::exchange(other.dev_, 0);
    record_ = std::exchange(other.record_, {});
    fd_ = std::move(other.fd_);
  }
  return *this;
}

void LoopDevice::Detach() {
  if (!fd_) return;
  if (auto it = record_.fields.find("scheduler"); it != record_.fields.end())
    (void)WriteFile(SchedulerFile(path_), it->second);
  ::ioctl(fd_.get(), LOOP_CLR_FD, 0);
  fd_.Reset();
  ForgetDevice(record_.device);
  record_ = {};
}

}  // namespace ckc

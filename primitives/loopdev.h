// LoopDevice: a loop block device over a file, detached when the owner goes away.
//
//   CKC_TRY(loop, LoopDevice::Create(dir + "/disk.img", 64 << 20));  // sparse backing file
//   loop.path()  -> "/dev/loop3";  loop.dev() -> its dev_t (for io.max / blkio rules)
//   CKC_TRY(fd, loop.Open(O_RDWR | O_DIRECT));
//
// The device is configured with LO_FLAGS_AUTOCLEAR and the owner keeps one descriptor open, so
// the kernel detaches it when that descriptor closes: also when the test process is SIGKILLed.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "fd.h"
#include "result.h"

namespace ckc {

class LoopDevice {
 public:
  // Creates (or truncates) `backing` to `size` bytes and attaches a free loop device to it.
  [[nodiscard]] static Result<LoopDevice> Create(const std::string& backing, uint64_t size);

  LoopDevice() = default;
  LoopDevice(LoopDevice&&) noexcept = default;
  LoopDevice& operator=(LoopDevice&&) noexcept = default;
  ~LoopDevice() { Detach(); }

  [[nodiscard]] const std::string& path() const { return path_; }
  [[nodiscard]] dev_t dev() const { return dev_; }
  [[nodiscard]] Result<UniqueFd> Open(int flags) const;
  // Switches the device's I/O scheduler (queue/scheduler); the previous one is restored on
  // Detach, since loop devices are reused by the host after us.
  [[nodiscard]] Status SetScheduler(const std::string& name);
  // Detaches now (LOOP_CLR_FD; autoclear finishes it once every opener has closed).
  void Detach();

 private:
  std::string path_;
  dev_t dev_ = 0;
  std::string saved_scheduler_;
  UniqueFd fd_;  // keeps the autoclear device attached
};

}  // namespace ckc

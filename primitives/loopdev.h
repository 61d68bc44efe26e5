// LoopDevice: a loop block device over a file, detached when the owner goes away.
//
//   CKC_TRY(loop, LoopDevice::Create(dir + "/disk.img", 64 << 20));  // sparse backing file
//   loop.path()  -> "/dev/loop3";  loop.dev() -> its dev_t (for io.max / blkio rules)
//   CKC_TRY(fd, loop.Open(O_RDWR | O_DIRECT));
//
// The device is configured with LO_FLAGS_AUTOCLEAR and the owner keeps one descriptor open, so
// the kernel detaches it when that descriptor closes: also when the test process is SIGKILLed.
// A descriptor can outlive the test, though (a forked child frozen in a v1 freezer holds a copy),
// and a scheduler it switched stays switched: so the device is recorded with the run (backing
// file as the kernel reports it, then the scheduler to restore; run_scope.h), and the sweep of a
// dead run detaches and restores it only while it is still attached to that backing file.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "fd.h"
#include "result.h"
#include "run_scope.h"

namespace ckc {

class LoopDevice {
 public:
  // Creates (or truncates) `backing` to `size` bytes and attaches a free loop device to it.
  [[nodiscard]] static Result<LoopDevice> Create(const std::string& backing, uint64_t size);

  LoopDevice() = default;
  LoopDevice(LoopDevice&& other) noexcept { *this = std::move(other); }
  LoopDevice& operator=(LoopDevice&& other) noexcept;
  LoopDevice(const LoopDevice&) = delete;
  LoopDevice& operator=(const LoopDevice&) = delete;
  ~LoopDevice() { Detach(); }

  [[nodiscard]] const std::string& path() const { return path_; }
  [[nodiscard]] dev_t dev() const { return dev_; }
  [[nodiscard]] Result<UniqueFd> Open(int flags) const;
  // Switches the device's I/O scheduler (queue/scheduler); the previous one is restored on
  // Detach, since loop devices are reused by the host after us. EINVAL when the device does not
  // take it (no such scheduler, or the write is accepted and the old one stays).
  [[nodiscard]] Status SetScheduler(const std::string& name);
  // Detaches now (LOOP_CLR_FD; autoclear finishes it once every opener has closed).
  void Detach();

 private:
  std::string path_;
  dev_t dev_ = 0;
  DeviceRecord record_;  // "loopN": backing, and scheduler once switched
  UniqueFd fd_;          // keeps the autoclear device attached
};

}  // namespace ckc

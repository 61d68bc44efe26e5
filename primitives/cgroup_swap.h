// TempSwap: a temporary zram swap device for a run whose memory rows need swap, set up only on
// an explicit opt-in (CKC_TEMP_SWAP=1) since swap is a change to the host.
//
//   CKC_TRY(swap, TempSwap::Create(256 << 20));   // hot_add zramN, disksize, swap header, swapon
//   ...                                             // ~TempSwap: swapoff, hot_remove
//   SweepTempSwaps();                               // removes devices of runs that died
//
// Each device is recorded with the run (RecordDevice, run_scope.h): as `pending` under the
// number hot_add is about to pick, then with the inode of its sysfs directory and its disksize.
// A sweep removes a device only while that still matches, so a zramN that was removed and made
// again by someone else is left alone. Only
// devices ckc hot-added are ever touched; zram0 and the host's own swap are left alone.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "result.h"
#include "run_scope.h"

namespace ckc {

class TempSwap {
 public:
  [[nodiscard]] static Result<TempSwap> Create(uint64_t bytes);
  TempSwap() = default;
  TempSwap(TempSwap&& other) noexcept : record_(std::exchange(other.record_, {})) {}
  TempSwap& operator=(TempSwap&& other) noexcept;
  TempSwap(const TempSwap&) = delete;
  TempSwap& operator=(const TempSwap&) = delete;
  ~TempSwap() { (void)Remove(); }

  [[nodiscard]] std::string path() const { return "/dev/" + record_.device; }  // /dev/zramN
  // swapoff and hot_remove; the record goes once both succeeded.
  [[nodiscard]] Status Remove();

 private:
  DeviceRecord record_;  // device "zramN" and its identity; empty device: nothing owned
};

// Removes the temporary swap devices of runs that are no longer alive (after checking each is
// still the recorded one); returns what it did.
std::vector<std::string> SweepTempSwaps();

}  // namespace ckc

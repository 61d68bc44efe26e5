// TempSwap: a temporary zram swap device for a run whose memory rows need swap, set up only on
// an explicit opt-in (CKC_TEMP_SWAP=1) since swap is a change to the host.
//
//   CKC_TRY(swap, TempSwap::Create(256 << 20));   // hot_add zramN, disksize, swap header, swapon
//   ...                                             // ~TempSwap: swapoff, hot_remove
//   SweepTempSwaps();                               // removes devices of runs that died
//
// Each device is recorded in <state base>/zram-swap.<run id> (outside the run's directory, which
// the start-of-run sweep removes first), so the next run removes what a killed run left.
// Only devices ckc hot-added are ever touched; zram0 and the host's own swap are left alone.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "result.h"

namespace ckc {

class TempSwap {
 public:
  [[nodiscard]] static Result<TempSwap> Create(uint64_t bytes);
  TempSwap() = default;
  TempSwap(TempSwap&& other) noexcept
      : device_(std::exchange(other.device_, -1)), record_(std::move(other.record_)) {}
  TempSwap& operator=(TempSwap&& other) noexcept;
  TempSwap(const TempSwap&) = delete;
  TempSwap& operator=(const TempSwap&) = delete;
  ~TempSwap() { (void)Remove(); }

  [[nodiscard]] std::string path() const;  // /dev/zramN
  // swapoff and hot_remove; the record goes once both succeeded.
  [[nodiscard]] Status Remove();

 private:
  int device_ = -1;
  std::string record_;
};

// Removes the temporary swap devices of runs that are no longer alive; returns what it did.
std::vector<std::string> SweepTempSwaps();

}  // namespace ckc

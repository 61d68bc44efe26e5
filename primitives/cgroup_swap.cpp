#include "cgroup_swap.h"

#include <sys/stat.h>
#include <sys/swap.h>
#include <unistd.h>

#include <fmt/format.h>
#include <cstring>
#include <filesystem>
#include <thread>

#include "fd.h"
#include "run_scope.h"

namespace ckc {

namespace {

namespace fs = std::filesystem;

std::string DevPath(int n) { return fmt::format("/dev/zram{}", n); }

// mkswap's job without mkswap (the VM has no util-linux): page 0 holds union swap_header —
// version 1 and the last page at offset 1024, "SWAPSPACE2" in the page's last 10 bytes.
Status WriteSwapHeader(const std::string& path, uint64_t bytes) {
  size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  std::string header(page, '\0');
  uint32_t info[3] = {1, static_cast<uint32_t>(bytes / page - 1), 0};  // version, last_page, bad
  std::memcpy(header.data() + 1024, info, sizeof info);
  std::memcpy(header.data() + page - 10, "SWAPSPACE2", 10);
  CKC_TRY(fd, OpenFile(path, O_WRONLY));
  if (::pwrite(fd.get(), header.data(), header.size(), 0) != static_cast<ssize_t>(header.size())) {
    return ErrnoError("write", path);
  }
  if (::fsync(fd.get()) != 0) return ErrnoError("fsync", path);
  return {};
}

Status RemoveDevice(int n) {
  std::string path = DevPath(n);
  if (::swapoff(path.c_str()) != 0 && errno != EINVAL && errno != ENOENT)
    return ErrnoError("swapoff", path);
  // hot_remove is refused (EBUSY) while the device is still open.
  for (int attempt = 0; attempt < 50; ++attempt) {
    auto st = WriteFile("/sys/class/zram-control/hot_remove", std::to_string(n));
    if (st || st.error().err == ENODEV || st.error().err == ENOENT) return {};
    if (st.error().err != EBUSY) return st;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return Failure("hot_remove", path, "still busy after 5 s");
}

}  // namespace

Result<TempSwap> TempSwap::Create(uint64_t bytes) {
  const RunScope* run = RunScope::Current();
  if (!run) return Failure("zram", "hot_add", "no run scope is open");
  CKC_TRY(added, ReadFile("/sys/class/zram-control/hot_add"));
  TempSwap swap;
  swap.device_ = std::stoi(added);
  swap.record_ = fmt::format("{}/zram-swap.{}", RunStateBase(), run->id());
  // Record first: from here on a killed run leaves something the next run can find.
  CKC_CHECK(WriteFileAtomic(swap.record_, std::to_string(swap.device_)));
  std::string block = fmt::format("/sys/block/zram{}", swap.device_);
  CKC_CHECK(WriteFile(block + "/disksize", std::to_string(bytes)));
  std::string path = swap.path();
  for (int i = 0; i < 100 && !fs::exists(path); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CKC_CHECK(WriteSwapHeader(path, bytes));
  if (::swapon(path.c_str(), 0) != 0) return ErrnoError("swapon", path);
  return swap;
}

TempSwap& TempSwap::operator=(TempSwap&& other) noexcept {
  if (this != &other) {
    (void)Remove();
    device_ = std::exchange(other.device_, -1);
    record_ = std::move(other.record_);
  }
  return *this;
}

std::string TempSwap::path() const { return DevPath(device_); }

Status TempSwap::Remove() {
  if (device_ < 0) return {};
  CKC_CHECK(RemoveDevice(device_));
  device_ = -1;
  std::error_code ec;
  fs::remove(record_, ec);
  return {};
}

std::vector<std::string> SweepTempSwaps() {
  std::vector<std::string> done;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(RunStateBase(), ec)) {
    std::string name = e.path().filename();
    if (!name.starts_with("zram-swap.")) continue;
    std::string id = name.substr(10);
    const RunScope* self = RunScope::Current();
    if ((self && self->id() == id) || RunIsAlive(id)) continue;
    auto n = ReadFile(e.path().string());
    if (!n || n->empty()) continue;
    int device = std::stoi(*n);
    if (auto st = RemoveDevice(device); !st) {
      done.push_back(fmt::format("zram{} of run {}: {}", device, id, st.error().Message()));
      continue;
    }
    fs::remove(e.path(), ec);
    done.push_back(fmt::format("removed zram{} of dead run {}", device, id));
  }
  return done;
}

}  // namespace ckc

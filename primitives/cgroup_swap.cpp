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

}  // namespace

Result<TempSwap> TempSwap::Create(uint64_t bytes) {
  if (!RunScope::Current()) return Failure("zram", "hot_add", "no run scope is open");
  TempSwap swap;  // before the lock: on an early return it is removed after the lock is free
  // Under the creation lock the number hot_add picks (the lowest free one) is known in advance,
  // so it is recorded before the device exists: a run killed right after hot_add leaves an
  // unconfigured device the sweep can still tell is its own.
  CKC_TRY(creating, LockDeviceCreation("zram"));
  int n = 0;
  while (fs::exists(fmt::format("/sys/block/zram{}", n))) ++n;
  swap.record_ = {fmt::format("zram{}", n), {{"pending", "1"}}};
  CKC_CHECK(RecordDevice(swap.record_));
  CKC_TRY(added, ReadFile("/sys/class/zram-control/hot_add"));
  if (std::stoi(added) != n) {  // someone outside ckc took that number meanwhile
    ForgetDevice(swap.record_.device);
    swap.record_.device = fmt::format("zram{}", std::stoi(added));
  }
  std::string block = "/sys/block/" + swap.record_.device;
  struct stat st {};
  if (::stat(block.c_str(), &st) != 0) return ErrnoError("stat", block);
  swap.record_.fields = {{"ino", std::to_string(st.st_ino)}};
  CKC_CHECK(RecordDevice(swap.record_));
  CKC_CHECK(WriteFile(block + "/disksize", std::to_string(bytes)));
  swap.record_.fields["disksize"] = std::to_string(bytes);
  CKC_CHECK(RecordDevice(swap.record_));
  creating.Reset();
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
    record_ = std::exchange(other.record_, {});
  }
  return *this;
}

Status TempSwap::Remove() {
  if (record_.device.empty()) return {};
  if (auto undone = UndoDevice(record_); !undone) return Propagate(undone.error());
  ForgetDevice(record_.device);
  record_ = {};
  return {};
}

std::vector<std::string> SweepTempSwaps() {
  std::vector<std::string> done;
  for (const auto& e : SweepDeadRunDevices("zram").log) done.push_back(e.Describe());
  return done;
}

}  // namespace ckc

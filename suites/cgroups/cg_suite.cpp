#include "cg_suite.h"

#include "cgroup_swap.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fmt/format.h>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <thread>
#include <vector>

namespace ckc::test {

namespace {

// Swap for the memory rows that need it, only when the run opts in (CKC_TEMP_SWAP=1): a zram
// device made at start and removed at the end. Every run first removes devices of dead runs.
class TempSwapEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    if (::geteuid() != 0) return;
    for (const auto& line : SweepTempSwaps())
      std::fprintf(stderr, "ckc: temp swap: %s\n", line.c_str());
    const char* opt = std::getenv("CKC_TEMP_SWAP");
    if (!opt || std::string_view(opt) != "1" || CurrentSwap().total_kib > 0) return;
    auto swap = TempSwap::Create(256 * kMiB);
    if (!swap) {
      std::fprintf(stderr, "ckc: CKC_TEMP_SWAP=1 but no zram swap: %s\n",
                   swap.error().Message().c_str());
      return;
    }
    std::fprintf(stderr, "ckc: temporary swap on %s for this run\n", swap->path().c_str());
    swap_ = std::move(*swap);
  }
  void TearDown() override {
    if (auto st = swap_.Remove(); !st)
      std::fprintf(stderr, "ckc: temp swap: %s\n", st.error().Message().c_str());
  }

 private:
  TempSwap swap_;
};

[[maybe_unused]] auto* const g_swap_env =
    ::testing::AddGlobalTestEnvironment(new TempSwapEnvironment);

}  // namespace

const CgroupSystem& Cgroups() {
  static const CgroupSystem sys = [] {
    auto s = CgroupSystem::Current();
    return s ? std::move(*s) : CgroupSystem::FromLayout({});
  }();
  return sys;
}

Requirement Cgroup2Mounted() {
  return {[]() -> std::optional<std::string> {
    if (Cgroups().layout().V2Mount()) return std::nullopt;
    return "cgroup-mode:v1-has-no-cgroup2 (no cgroup2 hierarchy is mounted)";
  }};
}

std::optional<std::string> FirstV2DomainController() {
  auto mount = Cgroups().V2Mount();
  if (!mount) return std::nullopt;
  // A hybrid host's cgroup2 root is the host's: only what it already enables is usable.
  bool v2 = Cgroups().mode() == CgroupMode::kV2;
  auto text = ReadFile(*mount + (v2 ? "/cgroup.controllers" : "/cgroup.subtree_control"));
  if (!text) return std::nullopt;
  std::istringstream in(*text);
  for (std::string c; in >> c;) {
    if (c == "memory" || c == "io" || c == "hugetlb" || c == "rdma" || c == "misc") return c;
  }
  return std::nullopt;
}

Requirement V2DomainController() {
  return {[]() -> std::optional<std::string> {
    if (!Cgroups().layout().V2Mount())
      return "cgroup-mode:v1-has-no-cgroup2 (no cgroup2 hierarchy)";
    if (FirstV2DomainController()) return std::nullopt;
    return fmt::format(
        "cgroup-mode:{}-no-v2-domain-controller (no memory/io/hugetlb/rdma/misc "
        "controller is usable in the cgroup2 tree)",
        CgroupModeName(Cgroups().mode()));
  }};
}

Requirement TwoCpus() {
  return {[]() -> std::optional<std::string> {
    if (OnlineCpus() >= 2) return std::nullopt;
    return "setup:needs-2-cpus (this machine has one CPU)";
  }};
}

SharedCounter::SharedCounter() {
  void* p = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  value = p == MAP_FAILED ? nullptr : static_cast<std::atomic<uint64_t>*>(p);
}

SharedCounter::~SharedCounter() {
  if (value) ::munmap(value, 4096);
}

Result<InGroup> StartIn(const Cgroup& cg, const std::function<int(Channel&)>& fn) {
  CKC_TRY(ch, Channel::Create());
  CKC_TRY(child, SpawnIn(cg, [&] {
            ch.BecomeChild();
            return fn(ch);
          }));
  ch.BecomeParent();
  return InGroup{std::move(child), std::move(ch)};
}

Result<ChildResult> RunIn(const Cgroup& cg, const std::function<int(Channel&)>& fn,
                          std::chrono::milliseconds timeout) {
  CKC_TRY(c, StartIn(cg, fn));
  return Collect(c.child, c.ch, timeout);
}

Requirement SwapAccounting(const Cgroup& cg) {
  return {[&cg]() -> std::optional<std::string> {
    auto version = cg.version("memory");
    if (!version) return "setup:memory (" + version.error().Message() + ")";
    bool v1 = *version == CgroupVersion::kV1;
    const char* file = v1 ? "memory.memsw.limit_in_bytes" : "memory.swap.max";
    if (cg.Has("memory", file)) return std::nullopt;
    if (CmdlineHas(KernelCmdline(), "swapaccount", "0")) {
      return fmt::format(
          "cmdline:swapaccount=0 (the kernel was booted without swap accounting: "
          "no {})",
          file);
    }
    const auto& cfg = RunningKernelConfig();
    if (auto it = cfg.values.find("CONFIG_MEMCG_SWAP"); it != cfg.values.end() && it->second == "n")
      return fmt::format("config:CONFIG_MEMCG_SWAP (not set in {}: no {})", cfg.source, file);
    return fmt::format("kernel:{} (absent from the group's {} directory)",
                       v1 ? "memory.memsw" : file, v1 ? "v1 memory" : "cgroup2");
  }};
}

Requirement KmemAccounting() {
  return {[]() -> std::optional<std::string> {
    if (!CmdlineHas(KernelCmdline(), "cgroup.memory", "nokmem")) return std::nullopt;
    return "cmdline:cgroup.memory=nokmem (the kernel was booted without kernel-memory accounting)";
  }};
}

Status LimitMemoryNoSwap(const Cgroup& cg, uint64_t bytes) {
  CKC_CHECK(cg.SetMemoryMax(bytes));
  if (CurrentSwap().total_kib == 0) return {};
  CKC_TRY(version, cg.version("memory"));
  // cgroup-v1/memory.rst 5.3 swappiness; vmscan's get_scan_count: a memcg's swappiness 0 turns
  // swap off for its limit reclaim.
  if (version == CgroupVersion::kV1) return cg.Write("memory", "memory.swappiness", "0");
  if (cg.Has("memory", "memory.swap.max")) return cg.SetSwapMax(0);
  return {};
}

bool TouchAnon(size_t bytes) {
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return false;
  auto* c = static_cast<volatile char*>(p);
  for (size_t i = 0; i < bytes; i += 4096) c[i] = 1;
  return true;
}

int ReadThroughCache(const std::string& path, off_t offset, size_t len) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  std::vector<char> buf(kMiB);
  int err = 0;
  for (size_t done = 0; done < len && err == 0; done += buf.size()) {
    ssize_t n = ::pread(fd, buf.data(), buf.size(), offset + static_cast<off_t>(done));
    if (n <= 0) err = n < 0 ? errno : EIO;
  }
  ::close(fd);
  return err;
}

void AllocateForever() {
  for (;;) TouchAnon(kMiB);
}

void Spin(std::chrono::milliseconds wall) {
  auto end = std::chrono::steady_clock::now() + wall;
  volatile uint64_t x = 0;
  while (std::chrono::steady_clock::now() < end) {
    for (int i = 0; i < 10000; ++i) x = x + 1;
  }
}

uint64_t SelfCpuUsec() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  auto us = [](const timeval& t) { return uint64_t(t.tv_sec) * 1000000 + uint64_t(t.tv_usec); };
  return us(ru.ru_utime) + us(ru.ru_stime);
}

bool PinTo(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return ::sched_setaffinity(0, sizeof set, &set) == 0;
}

bool Eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto end = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void RetryOnce(const Attempt& attempt) {
  std::string first;
  for (int i = 0; i < 2; ++i) {
    auto r = attempt();
    if (!r) return Broken("setup: " + r.error().Message(), __FILE__, __LINE__);
    if (!r->has_value()) return;
    if (i == 0) first = **r;
    if (i == 1) ADD_FAILURE() << "first attempt: " << first << "; retry: " << **r;
  }
}

}  // namespace ckc::test

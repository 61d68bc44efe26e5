#include "cgv2_support.h"

#include <sys/mman.h>
#include <time.h>

#include <fmt/format.h>
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <vector>

namespace ckc::test {

namespace {

std::vector<std::string> Split(std::string_view text, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : text) {
    if (c == sep || c == '\n') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

bool HasWord(std::string_view text, std::string_view word) {
  std::istringstream in{std::string(text)};
  for (std::string w; in >> w;) {
    if (w == word) return true;
  }
  return false;
}

// Probe groups are named after the file they look for; each test makes at most one at a time.
std::string ProbeName(std::string_view file) {
  std::string name = "probe-";
  for (char c : file) name += (c == '.' ? '-' : c);
  return name;
}

uint64_t NowUs(clockid_t clock) {
  timespec ts{};
  ::clock_gettime(clock, &ts);
  return uint64_t(ts.tv_sec) * 1000000 + uint64_t(ts.tv_nsec) / 1000;
}

}  // namespace

Requirement V2Knob(std::string controller, std::string file) {
  return {[=]() -> std::optional<std::string> {
    auto cg = Cgroup::Create(Cgroups(), ProbeName(file), {controller});
    if (!cg || cg->Has(controller, file)) return std::nullopt;
    if (file.starts_with("memory.swap") && HasWord(KernelCmdline(), "swapaccount=0"))
      return fmt::format("cmdline:swapaccount=0 (no {} without swap accounting)", file);
    return fmt::format("kernel:{} (a new {} group has no {}: the kernel predates it)", file,
                       controller, file);
  }};
}

Requirement Psi() {
  return {[]() -> std::optional<std::string> {
    std::string cmdline = KernelCmdline();
    if (!std::filesystem::exists("/proc/pressure/memory")) {
      const KernelConfig& cfg = RunningKernelConfig();
      if (cfg.Has("CONFIG_PSI") == Tristate::kNo)
        return fmt::format("config:CONFIG_PSI (not set in {})", cfg.source);
      if (HasWord(cmdline, "psi=0")) return "cmdline:psi=0 (pressure stall information is off)";
      if (cfg.Has("CONFIG_PSI_DEFAULT_DISABLED") == Tristate::kYes && !HasWord(cmdline, "psi=1"))
        return "config:CONFIG_PSI_DEFAULT_DISABLED (PSI is off unless booted with psi=1)";
      return "kernel:psi (no /proc/pressure)";
    }
    auto cg = Cgroup::Create(Cgroups(), "probe-psi", {});
    if (!cg || cg->Has("", "memory.pressure")) return std::nullopt;
    if (CgroupDisabledOnCmdline(cmdline, "pressure"))
      return "cmdline:cgroup_disable=pressure (per-cgroup PSI is off)";
    return "kernel:cgroup-psi (/proc/pressure exists but a new group has no memory.pressure)";
  }};
}

Requirement Zswap() {
  return {[]() -> std::optional<std::string> {
    auto enabled = ReadFile("/sys/module/zswap/parameters/enabled");
    if (!enabled) {
      return fmt::format("config:CONFIG_ZSWAP (no /sys/module/zswap; not set in {})",
                         RunningKernelConfig().source);
    }
    if (enabled->starts_with("Y")) return std::nullopt;
    return "needs:zswap (zswap is built in but off: /sys/module/zswap/parameters/enabled is N; "
           "ckc never switches it on for the host)";
  }};
}

Requirement Thp() {
  return {[]() -> std::optional<std::string> {
    auto mode = ReadFile("/sys/kernel/mm/transparent_hugepage/enabled");
    if (!mode) {
      return fmt::format(
          "config:CONFIG_TRANSPARENT_HUGEPAGE (no "
          "/sys/kernel/mm/transparent_hugepage; not set in {})",
          RunningKernelConfig().source);
    }
    if (mode->find("[never]") == std::string::npos) return std::nullopt;
    return "needs:thp (transparent_hugepage/enabled is [never]; ckc does not change it)";
  }};
}

Requirement SocketAccounting() {
  return {[]() -> std::optional<std::string> {
    if (!CmdlineHas(KernelCmdline(), "cgroup.memory", "nosocket")) return std::nullopt;
    return "cmdline:cgroup.memory=nosocket (socket memory accounting is off)";
  }};
}

bool V2MountOption(std::string_view option) {
  auto mount = Cgroups().V2Mount();
  auto text = ReadFile("/proc/self/mountinfo");
  if (!mount || !text) return false;
  std::istringstream in(*text);
  for (std::string line; std::getline(in, line);) {
    auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    auto before = Split(std::string_view(line).substr(0, dash), ' ');
    auto after = Split(std::string_view(line).substr(dash + 3), ' ');
    if (before.size() < 5 || after.size() < 3 || after[0] != "cgroup2") continue;
    if (Cgroups().Real(before[4]) != *mount) continue;
    for (const auto& opt : Split(after[2], ',')) {
      if (opt == option) return true;
    }
  }
  return false;
}

bool CgroupFeature(std::string_view name) {
  auto text = ReadFile("/sys/kernel/cgroup/features");
  return text && HasWord(*text, name);
}

Status NoSwap(const Cgroup& cg) {
  auto st = cg.SetSwapMax(0);
  if (!st && CurrentSwap().total_kib == 0) return {};
  return st;
}

char* MapSmallPages(size_t bytes) {
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  (void)::madvise(p, bytes, MADV_NOHUGEPAGE);  // EINVAL without THP: small pages anyway
  return static_cast<char*>(p);
}

void TouchPattern(char* p, size_t bytes) {
  for (size_t off = 0; off < bytes; off += 4096) {
    auto* words = reinterpret_cast<volatile uint64_t*>(p + off);
    words[0] = off;
    words[256] = ~off;
  }
}

Result<InGroup> StartToucher(const Cgroup& cg, size_t bytes) {
  return StartIn(cg, [bytes](Channel& ch) {
    char* p = MapSmallPages(bytes);
    if (!p) return ReportErrno(ch, "mmap");
    (void)ch.Send("ready");
    if (!ch.Expect("go").has_value()) return 1;
    uint64_t wall0 = NowUs(CLOCK_MONOTONIC), cpu0 = NowUs(CLOCK_PROCESS_CPUTIME_ID);
    TouchPattern(p, bytes);
    uint64_t wall = NowUs(CLOCK_MONOTONIC) - wall0, cpu = NowUs(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
    (void)ch.Send(fmt::format("{} {}", wall, cpu));
    return ch.Expect("exit").has_value() ? 0 : 1;
  });
}

Result<TouchTiming> AwaitTouch(InGroup& c, std::chrono::milliseconds timeout) {
  CKC_TRY(msg, c.ch.Recv(timeout));
  TouchTiming t;
  if (std::sscanf(msg.c_str(), "%" SCNu64 " %" SCNu64, &t.wall_us, &t.cpu_us) != 2)
    return Failure("toucher", "report", msg);
  return t;
}

Status FinishToucher(InGroup& c) {
  CKC_CHECK(c.ch.Send("exit"));
  CKC_TRY(st, c.child.Wait(10s));
  if (!st.Exited(0)) return Failure("toucher", std::to_string(c.child.pid()), st.Describe());
  return {};
}

std::optional<uint64_t> PressureTotalUs(std::string_view text, std::string_view kind) {
  std::istringstream in{std::string(text)};
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with(std::string(kind) + " ")) continue;
    auto at = line.find("total=");
    if (at == std::string::npos) return std::nullopt;
    return std::stoull(line.substr(at + 6));
  }
  return std::nullopt;
}

}  // namespace ckc::test

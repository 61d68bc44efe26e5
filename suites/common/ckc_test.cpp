#include "ckc_test.h"

#include <unistd.h>

#include <fmt/format.h>
#include <filesystem>
#include <sstream>

#include "mounts.h"

namespace ckc::test {

namespace {
bool HasEffectiveSysAdmin() {
  // /proc/self/status CapEff, bit 21 (CAP_SYS_ADMIN): no libcap needed in the common layer.
  auto status = ReadFile("/proc/self/status");
  if (!status) return false;
  auto pos = status->find("CapEff:");
  if (pos == std::string::npos) return false;
  unsigned long long caps = std::stoull(status->substr(pos + 7), nullptr, 16);
  return (caps >> 21) & 1;
}
}  // namespace

Requirement Root() {
  return {[]() -> std::optional<std::string> {
    if (::geteuid() == 0 && HasEffectiveSysAdmin()) return std::nullopt;
    return fmt::format("needs:root (euid {}, CAP_SYS_ADMIN {})", ::geteuid(),
                       HasEffectiveSysAdmin() ? "effective" : "missing");
  }};
}

Requirement NotRoot() {
  return {[]() -> std::optional<std::string> {
    if (::geteuid() != 0) return std::nullopt;
    return "needs:non-root (this row observes an unprivileged caller)";
  }};
}

Requirement Config(std::string option) {
  return {[option]() -> std::optional<std::string> {
    if (RunningKernelConfig().Has(option) != Tristate::kNo) return std::nullopt;
    return fmt::format("config:{} (not set in {})", option, RunningKernelConfig().source);
  }};
}

Requirement NamespaceType(NsType type) {
  return {[type]() -> std::optional<std::string> {
    if (std::filesystem::exists(NsPath(::getpid(), type))) return std::nullopt;
    return fmt::format("kernel:{}-namespace (no /proc/self/ns/{})", NsName(type), NsName(type));
  }};
}

Requirement UnprivilegedUserns() {
  return {[]() -> std::optional<std::string> {
    if (auto max = ReadSysctl("user.max_user_namespaces"); max && *max == "0") {
      return "sysctl:user.max_user_namespaces (is 0)";
    }
    // Debian's own knob (kernels before 6.x default to 0 on some releases).
    if (auto clone = ReadSysctl("kernel.unprivileged_userns_clone"); clone && *clone == "0") {
      return "sysctl:kernel.unprivileged_userns_clone (is 0)";
    }
    if (auto aa = ReadSysctl("kernel.apparmor_restrict_unprivileged_userns"); aa && *aa == "1") {
      return "sysctl:kernel.apparmor_restrict_unprivileged_userns (is 1)";
    }
    return std::nullopt;
  }};
}

Requirement Swap(uint64_t min_free_bytes) {
  return {[min_free_bytes]() -> std::optional<std::string> {
    SwapInfo swap = CurrentSwap();
    if (swap.total_kib == 0) {
      return "needs:swap (no swap device is active; ckc never turns swap on for the host by "
             "default)";
    }
    if (swap.free_kib * 1024 >= min_free_bytes) return std::nullopt;
    return fmt::format("needs:swap ({} KiB of swap free, the row needs {} KiB)", swap.free_kib,
                       min_free_bytes / 1024);
  }};
}

namespace {

// /proc/sys/user/max_<type>_namespaces below `count`: fewer namespaces of that type than the row
// needs can be made by this user namespace or any below it (kernel/ucount.c counts every level up
// to the initial one); "0" lets none be made.
std::optional<std::string> QuotaBelow(uint64_t clone_flags, uint64_t count) {
  for (NsType t : kAllNsTypes) {
    if ((clone_flags & static_cast<uint64_t>(NsCloneFlag(t))) == 0) continue;
    std::string name = fmt::format("user.max_{}_namespaces", NsName(t));
    auto max = ReadSysctl(name);
    if (!max || std::strtoull(max->c_str(), nullptr, 10) >= count) continue;
    if (*max == "0") {
      return fmt::format("sysctl:{} (is 0: no new {} namespace can be made)", name, NsName(t));
    }
    return fmt::format("sysctl:{} (is {}: fewer than the {} {} namespaces the row makes)", name,
                       *max, count, NsName(t));
  }
  return std::nullopt;
}

std::optional<std::string> QuotaZero(uint64_t clone_flags) { return QuotaBelow(clone_flags, 1); }

uint64_t AllCloneNewFlags() {
  uint64_t all = 0;
  for (NsType t : kAllNsTypes) all |= static_cast<uint64_t>(NsCloneFlag(t));
  return all;
}

// The CLONE_NEW* flags a failure text names: hex numbers after "flags=" or "unshare(`" (what
// Clone3 and Unshare put in their errors) and symbolic CLONE_NEW<TYPE> names; nullopt when it
// names no flags at all.
std::optional<uint64_t> CloneFlagsIn(std::string_view text) {
  std::optional<uint64_t> flags;
  for (std::string_view mark : {"flags=", "unshare(`"}) {
    for (size_t at = text.find(mark); at != std::string_view::npos; at = text.find(mark, at + 1)) {
      std::string rest(text.substr(at + mark.size(), 24));
      if (rest.starts_with("0x"))
        flags = flags.value_or(0) | std::strtoull(rest.c_str(), nullptr, 16);
    }
  }
  static const std::pair<const char*, NsType> kNames[] = {
      {"CLONE_NEWCGROUP", NsType::kCgroup}, {"CLONE_NEWIPC", NsType::kIpc},
      {"CLONE_NEWNS", NsType::kMnt},        {"CLONE_NEWNET", NsType::kNet},
      {"CLONE_NEWPID", NsType::kPid},       {"CLONE_NEWTIME", NsType::kTime},
      {"CLONE_NEWUSER", NsType::kUser},     {"CLONE_NEWUTS", NsType::kUts}};
  for (const auto& [name, type] : kNames) {
    if (text.find(name) != std::string_view::npos)
      flags = flags.value_or(0) | static_cast<uint64_t>(NsCloneFlag(type));
  }
  if (flags) *flags &= AllCloneNewFlags();
  return flags;
}

}  // namespace

Requirement NamespaceQuota(uint64_t clone_flags, uint64_t count) {
  return {[clone_flags, count]() { return QuotaBelow(clone_flags, count); }};
}

std::optional<std::string> NamespaceQuotaReason(std::string_view failure) {
  if (failure.find("ENOSPC") == std::string_view::npos) return std::nullopt;
  bool makes_namespaces = false;
  for (std::string_view call : {"clone3", "clone(", "unshare", "CLONE_NEW"}) {
    makes_namespaces = makes_namespaces || failure.find(call) != std::string_view::npos;
  }
  if (!makes_namespaces) return std::nullopt;
  auto why = QuotaZero(CloneFlagsIn(failure).value_or(AllCloneNewFlags()));
  if (!why) return std::nullopt;
  why->pop_back();  // ")": the failure that revealed it goes inside the parentheses
  return fmt::format("{}; setup failed: {})", *why, failure);
}

void Broken(std::string_view step, const char* file, int line) {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const ::testing::TestResult* result = info ? info->result() : nullptr;
  bool marked = false;
  for (int i = 0; result && i < result->test_property_count(); ++i) {
    marked = marked || std::string_view(result->GetTestProperty(i).key()) == "broken";
  }
  if (result && !marked) {
    ::testing::Test::RecordProperty("broken_at", result->total_part_count());
    ::testing::Test::RecordProperty("broken", std::string(step));
  }
  ::testing::internal::AssertHelper(::testing::TestPartResult::kFatalFailure, file, line,
                                    std::string(step).c_str()) = ::testing::Message();
}

void SetupFailed(std::string_view failure, const char* file, int line) {
  if (auto why = NamespaceQuotaReason(failure)) {
    ::testing::internal::AssertHelper(::testing::TestPartResult::kSkip, file, line, why->c_str()) =
        ::testing::Message();
    return;
  }
  Broken(fmt::format("setup: {}", failure), file, line);
}

void BrokenAt::operator=(const ::testing::Message& message) const {
  std::string what = message.GetString();
  if (what.starts_with("setup: ")) what.erase(0, 7);
  Broken(fmt::format("setup: {}{}({} is false)", what, what.empty() ? "" : " ", condition), file,
         line);
}

Requirement Command(std::string path) {
  return {[path]() -> std::optional<std::string> {
    if (::access(path.c_str(), X_OK) == 0) return std::nullopt;
    return fmt::format("setup:missing-{}", path);
  }};
}

namespace {

std::string V1Name(const std::string& c) { return c == "io" ? "blkio" : c; }

// Controllers that exist on v2 without a cgroup.controllers entry, and those v2 lacks entirely.
bool V2Core(const std::string& c) { return c == "freezer" || c == "devices" || c == "perf_event"; }
bool V1Only(const std::string& c) { return c == "net_cls" || c == "net_prio"; }

std::string V1ConfigOf(const std::string& c) {
  if (c == "memory") return "CONFIG_MEMCG_V1";
  if (c == "cpuset") return "CONFIG_CPUSETS_V1";
  if (c == "net_cls") return "CONFIG_CGROUP_NET_CLASSID";
  if (c == "net_prio") return "CONFIG_CGROUP_NET_PRIO";
  if (c == "freezer") return "CONFIG_CGROUP_FREEZER";
  if (c == "devices") return "CONFIG_CGROUP_DEVICE";
  if (c == "hugetlb") return "CONFIG_CGROUP_HUGETLB";
  if (c == "perf_event") return "CONFIG_CGROUP_PERF";
  if (c == "rdma") return "CONFIG_CGROUP_RDMA";
  if (c == "pids") return "CONFIG_CGROUP_PIDS";
  if (c == "io") return "CONFIG_BLK_CGROUP";
  return "";
}

bool ListedIn(const std::string& file, const std::string& c) {
  auto text = ReadFile(file);
  if (!text) return false;
  std::istringstream in(*text);
  for (std::string w; in >> w;) {
    if (w == c) return true;
  }
  return false;
}

// 1 or 2 for the version serving `c`, 0 if none; `why` says what is missing.
int ServingVersion(const CgroupLayout& layout, const std::string& c, std::string* why) {
  if (layout.V1Mount(V1Name(c))) return 1;
  const CgroupMountPoint* v2 = layout.V2Mount();
  if (v2 && V2Core(c)) return 2;
  if (v2 && !V1Only(c) && ListedIn(v2->path + "/cgroup.controllers", c)) {
    if (ListedIn(v2->path + "/cgroup.subtree_control", c)) return 2;
    *why = fmt::format(
        "cgroup-mode:{}root-lacks-{} (listed at the cgroup2 root {} but not enabled there; "
        "ckc does not change the host's root)",
        layout.mode == CgroupMode::kHybrid ? "hybrid-" : "", c, v2->path);
    return 0;
  }
  std::string option = V1ConfigOf(c);
  if (CgroupDisabledOnCmdline(KernelCmdline(), c)) {
    *why = fmt::format(
        "cmdline:cgroup_disable={} (the kernel was booted with the {} controller "
        "off)",
        c, c);
  } else if (V1Only(c) && layout.mode == CgroupMode::kV2) {
    *why = fmt::format("cgroup-mode:v2-has-no-{} (a v1-only controller; this machine is v2)", c);
  } else if (RunningKernelConfig().CompiledOut(option)) {
    *why = fmt::format("config:{} (not set in {}; no {} controller)", option,
                       RunningKernelConfig().source, c);
  } else {
    *why = fmt::format(
        "controller:{} (not mounted as v1 and not listed in the cgroup2 root's "
        "cgroup.controllers; cgroup mode {})",
        c, CgroupModeName(layout.mode));
  }
  return 0;
}

}  // namespace

Requirement Controller(std::string name) {
  return {[name]() -> std::optional<std::string> {
    auto layout = CurrentCgroupLayout();
    if (!layout) return "setup:mountinfo (" + layout.error().Message() + ")";
    std::string why;
    if (ServingVersion(*layout, name, &why) != 0) return std::nullopt;
    return why;
  }};
}

Requirement ServedByCgroupVersion(std::string controller, int version, std::string reason) {
  return {[=]() -> std::optional<std::string> {
    auto layout = CurrentCgroupLayout();
    if (!layout) return "setup:mountinfo (" + layout.error().Message() + ")";
    std::string why;
    int v = ServingVersion(*layout, controller, &why);
    if (v == version) return std::nullopt;
    if (v == 0) return why;
    std::string option = V1ConfigOf(controller);
    if (version == 1 && RunningKernelConfig().CompiledOut(option)) {
      return fmt::format("config:{} (v1 {} is compiled out; {} is served by v2)", option,
                         controller, controller);
    }
    return fmt::format("cgroup-mode:{} ({} is served by cgroup v{} here; this row is about v{})",
                       reason, controller, v, version);
  }};
}

Requirement RootOrUserns() {
  return {[]() -> std::optional<std::string> {
    if (!Root().probe()) return std::nullopt;
    if (auto why = NamespaceType(NsType::kUser).probe()) return why;
    return UnprivilegedUserns().probe();
  }};
}

std::optional<std::string> Unmet(std::initializer_list<Requirement> requirements) {
  for (const auto& r : requirements) {
    if (auto why = r.probe()) return why;
  }
  return std::nullopt;
}

std::string ChildResult::Describe() const {
  std::string out = status.Describe();
  if (!reports.empty()) {
    out += "; reports:";
    for (const auto& r : reports) out += " " + r + ";";
  }
  return out;
}

std::optional<std::string> ChildResult::SetupFailure() const {
  if (!status.exited || status.code == 0) return std::nullopt;
  for (const auto& r : reports) {
    if (r.starts_with("setup: ")) return r.substr(7);
  }
  return std::nullopt;
}

Result<ChildResult> Collect(Child& child, Channel& ch, std::chrono::milliseconds timeout) {
  using std::chrono::milliseconds;
  ChildResult result;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto left = [&] {
    auto d = std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
    return std::max(d, milliseconds(1));
  };
  while (std::chrono::steady_clock::now() < deadline) {
    auto msg = ch.Recv(left());
    if (!msg) break;  // EOF: the child and everything it spawned closed the channel
    result.reports.push_back(*msg);
  }
  CKC_TRY(status, child.Wait(left()));
  result.status = status;
  if (auto step = result.SetupFailure()) {
    return Failure("child setup", fmt::format("pid {}", child.pid()),
                   fmt::format("{}; {}", *step, status.Describe()));
  }
  return result;
}

Result<ChildResult> RunInChild(const std::function<int(Channel&)>& fn, uint64_t clone_flags,
                               std::chrono::milliseconds timeout) {
  CKC_TRY(ch, Channel::Create());
  CKC_TRY(child, Spawn({.flags = clone_flags}, [&] {
            ch.BecomeChild();
            return fn(ch);
          }));
  ch.BecomeParent();
  return Collect(child, ch, timeout);
}

Result<ChildResult> RunInSandbox(const Sandbox& box, const std::function<int(Channel&)>& fn,
                                 std::chrono::milliseconds timeout) {
  CKC_TRY(run, box.Run(fn));
  return Collect(run.child, run.channel, timeout);
}

int ReportErrno(Channel& ch, std::string_view what, int code) {
  int saved = errno;
  (void)ch.Send(fmt::format("{}: {}", what, ErrnoName(saved)));
  return code;
}

int Report(Channel& ch, std::string_view message, int code) {
  (void)ch.Send(message);
  return code;
}

void Observe(Channel& ch, std::string_view key, std::string_view value) {
  (void)ch.Send(fmt::format("{}={}", key, value));
}

Observations Parse(const ChildResult& result) {
  Observations out;
  for (const auto& r : result.reports) {
    auto eq = r.find('=');
    if (eq != std::string::npos) out[r.substr(0, eq)] = r.substr(eq + 1);
  }
  return out;
}

std::string Outcome(long rc) { return rc >= 0 ? "ok" : "!" + ErrnoName(errno); }

std::string TestDir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = info ? fmt::format("{}.{}", info->test_suite_name(), info->name()) : "test";
  std::string dir =
      fmt::format("{}/{}", RunScope::Current() ? RunScope::Current()->dir() : RunStateBase(), name);
  (void)MakeDirs(dir, 0755);
  return dir;
}

}  // namespace ckc::test

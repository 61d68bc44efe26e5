// Rows cpu.max-burst, cpu.idle, pids.events, io.max-iops and psi.per-cgroup of Part 2: the
// cgroup v2 CPU, PID, IO and pressure interfaces (cgroup-v2.rst "CPU", "PID", "IO", "PSI";
// scheduler/sched-bwc.rst "Burst feature"; accounting/psi.rst "Cgroup2 interface").
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fmt/format.h>
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <thread>
#include <vector>

#include "cgv2_support.h"
#include "loopdev.h"

namespace ckc::test {
namespace {

using Keyed = std::map<std::string, uint64_t>;

int LastCpu() { return OnlineCpus() - 1; }

// `key` is among the keys of `file` in a new group with `controller`, else kernel:<file>-<key>.
Requirement V2Key(std::string controller, std::string file, std::string key) {
  return {[=]() -> std::optional<std::string> {
    auto cg = Cgroup::Create(Cgroups(), "probe-" + key, {controller});
    if (!cg) return std::nullopt;
    auto keyed = cg->ReadKeyed(controller, file);
    if (!keyed || keyed->contains(key)) return std::nullopt;
    return fmt::format("kernel:{}-{} ({} of a new group has no {})", file, key, file, key);
  }};
}

uint64_t ThreadCpuUs() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return uint64_t(ts.tv_sec) * 1000000 + uint64_t(ts.tv_nsec) / 1000;
}

// Burns `us` microseconds of the calling thread's own CPU time (however long that takes).
void SpinCpu(uint64_t us) {
  uint64_t end = ThreadCpuUs() + us;
  volatile uint64_t x = 0;
  while (ThreadCpuUs() < end) {
    for (int i = 0; i < 1000; ++i) x = x + 1;
  }
}

// --- cpu.max-burst ----------------------------------------------------------------------------

constexpr uint64_t kQuotaUs = 30000, kPeriodUs = 100000;

// A child pinned to the last CPU that, after "go" and `offset`, `cycles` times sleeps 250 ms
// (2.5 periods: the quota, and any burst, refill) and then burns `spin_us` of CPU time; then it
// reports "done" and waits for "exit".
Result<InGroup> Burster(const Cgroup& cg, std::chrono::milliseconds offset, int cycles,
                        uint64_t spin_us) {
  return StartIn(cg, [=](Channel& ch) {
    if (!PinTo(LastCpu())) return ReportErrno(ch, "sched_setaffinity");
    (void)ch.Send("ready");
    if (!ch.Expect("go").has_value()) return 1;
    std::this_thread::sleep_for(offset);
    for (int i = 0; i < cycles; ++i) {
      std::this_thread::sleep_for(250ms);
      SpinCpu(spin_us);
    }
    (void)ch.Send("done");
    return ch.Expect("exit").has_value() ? 0 : 1;
  });
}

// cpu.stat counters that grew between `a` and `b`.
Keyed Delta(Keyed a, Keyed b) {
  Keyed d;
  for (const auto& [k, v] : b) d[k] = v - std::min(v, a[k]);
  return d;
}

Result<std::optional<std::string>> BurstAttempt() {
  CKC_TRY(burst, Cgroup::Create(Cgroups(), "burst", {"cpu"}));
  CKC_TRY(plain, Cgroup::Create(Cgroups(), "noburst", {"cpu"}));
  // With the burst, 32 ms spins (2 ms past the quota) fit in the 60 ms a rested group may use:
  // the margin absorbs what else the group runs in a period, up to ~16 ms per spin seen under
  // emulation on a loaded host. Without it, a 65 ms spin cannot end without a throttle, as two
  // refills would have to come within it. The reference spins half a cycle later.
  CKC_TRY(a, Burster(burst, 0ms, 4, kQuotaUs + 2000));
  CKC_TRY(b, Burster(plain, 125ms, 1, 2 * kQuotaUs + 5000));
  for (InGroup* c : {&a, &b}) CKC_CHECK(c->ch.Expect("ready", 10s));
  // The limits come after the children's start-up, which is slow under emulation and would
  // otherwise be throttled before the behaviour runs.
  CKC_CHECK(burst.SetCpuMax(kQuotaUs, kPeriodUs));
  CKC_CHECK(burst.Write("cpu", "cpu.max.burst", std::to_string(kQuotaUs)));
  CKC_CHECK(plain.SetCpuMax(kQuotaUs, kPeriodUs));
  CKC_TRY(a0, burst.ReadKeyed("cpu", "cpu.stat"));
  CKC_TRY(b0, plain.ReadKeyed("cpu", "cpu.stat"));
  for (InGroup* c : {&a, &b}) CKC_CHECK(c->ch.Send("go"));
  for (InGroup* c : {&a, &b}) CKC_CHECK(c->ch.Expect("done", 20s));
  CKC_TRY(a1, burst.ReadKeyed("cpu", "cpu.stat"));
  CKC_TRY(b1, plain.ReadKeyed("cpu", "cpu.stat"));
  for (InGroup* c : {&a, &b}) {
    CKC_CHECK(c->ch.Send("exit"));
    CKC_TRY(st, c->child.Wait(10s));
    if (!st.Exited(0)) return Failure("burster", std::to_string(c->child.pid()), st.Describe());
  }
  Keyed da = Delta(a0, a1), db = Delta(b0, b1);
  if (da["nr_bursts"] >= 1 && da["burst_usec"] >= 1000 && da["nr_throttled"] == 0 &&
      db["nr_bursts"] == 0 && db["nr_throttled"] >= 1) {
    return std::nullopt;
  }
  return fmt::format(
      "cpu.max 30000 100000: four 32 ms spins with cpu.max.burst 30000: nr_bursts +{}, "
      "burst_usec +{}, nr_throttled +{} (expected >= 1, >= 1000, 0); a 65 ms spin without: "
      "nr_bursts +{}, nr_throttled +{} (expected 0, >= 1)",
      da["nr_bursts"], da["burst_usec"], da["nr_throttled"], db["nr_bursts"], db["nr_throttled"]);
}

TEST(CpuV2, MaxBurstRunsPastQuota) {
  // Source: cgroup-v2.rst cpu.max.burst ("the burst in the range [0, $MAX]") and cpu.stat
  // nr_bursts/burst_usec; scheduler/sched-bwc.rst "Burst feature" (unused quota accrues up to
  // the burst and lets a group use more than its quota in a period).
  // Negative control: cpu.max.burst 0 (the reference group) throttles and counts no burst; a
  // kernel without the file skips (kernel:cpu.max.burst), one without the counters skips
  // (kernel:cpu.stat-nr_bursts).
  CKC_BEHAVIOUR("cpu.max-burst", "K",
                "a CPU-limited group that left quota unused may, with cpu.max.burst, run beyond "
                "its quota in a period without being throttled, and cpu.stat counts these bursts "
                "in nr_bursts and burst_usec",
                "5.14");
  CKC_REQUIRE(Root(), ServedByCgroupVersion("cpu", 2, "v1-has-no-cpu.max.burst"),
              V2Knob("cpu", "cpu.max.burst"), V2Key("cpu", "cpu.stat", "nr_bursts"));
  RetryOnce(BurstAttempt);
}

// --- cpu.idle ---------------------------------------------------------------------------------

// A child pinned to the last CPU that spins for `wall` after "go", then reports the CPU it ran
// on.
Result<InGroup> PinnedSpinner(const Cgroup& cg, std::chrono::milliseconds wall) {
  return StartIn(cg, [wall](Channel& ch) {
    if (!PinTo(LastCpu())) return ReportErrno(ch, "sched_setaffinity");
    (void)ch.Send("ready");
    if (!ch.Expect("go").has_value()) return 1;
    Spin(wall);
    return Report(ch, std::to_string(::sched_getcpu()), 0);
  });
}

Result<uint64_t> Usage(const Cgroup& cg) {
  CKC_TRY(stat, cg.CpuStats());
  return stat.usage_usec;
}

Result<std::optional<std::string>> IdleAttempt() {
  CKC_TRY(idle, Cgroup::Create(Cgroups(), "idle", {"cpu"}));
  CKC_TRY(busy, Cgroup::Create(Cgroups(), "busy", {"cpu"}));
  CKC_CHECK(idle.Write("cpu", "cpu.idle", "1"));
  CKC_TRY(a, PinnedSpinner(idle, 700ms));
  CKC_TRY(b, PinnedSpinner(busy, 700ms));
  for (InGroup* c : {&a, &b}) CKC_CHECK(c->ch.Expect("ready", 10s));
  for (InGroup* c : {&a, &b}) CKC_CHECK(c->ch.Send("go"));
  // Sampled while both spin: the start (one may begin later) and the end (one may finish
  // earlier and leave the CPU to the other) are outside the window.
  std::this_thread::sleep_for(150ms);
  CKC_TRY(ua0, Usage(idle));
  CKC_TRY(ub0, Usage(busy));
  std::this_thread::sleep_for(400ms);
  CKC_TRY(ua1, Usage(idle));
  CKC_TRY(ub1, Usage(busy));
  for (InGroup* c : {&a, &b}) {
    CKC_TRY(cpu, c->ch.Recv(20s));
    CKC_TRY(st, c->child.Wait(10s));
    if (!st.Exited(0) || cpu != std::to_string(LastCpu()))
      return Failure("spinner", "cpu " + cpu, st.Describe());
  }
  uint64_t ua = ua1 - ua0, ub = ub1 - ub0;
  double share = double(ua) / double(std::max<uint64_t>(ua + ub, 1));
  if (share <= 0.1) return std::nullopt;
  return fmt::format(
      "two spinners on CPU {}, 400 ms while both ran: cpu.idle=1 group {} us, normal group {} us: "
      "the idle group's share {:.3f} (expected <= 0.1)",
      LastCpu(), ua, ub, share);
}

TEST(CpuV2, IdleGroupYieldsToBusySibling) {
  // Source: cgroup-v2.rst cpu.idle ("the cgroup's tasks will be treated as SCHED_IDLE"; its
  // weight is the minimum); sched(7) SCHED_IDLE ("for running very low priority background
  // jobs"). Both spinners are pinned to one CPU, so it works on one vCPU or more.
  // Negative control: cpu.idle 0 gives the two groups about half each (share 0.5: fail); a kernel
  // without the file skips (kernel:cpu.idle).
  CKC_BEHAVIOUR("cpu.idle", "K",
                "a group with cpu.idle set competes for a CPU like a SCHED_IDLE task: next to a "
                "busy ordinary group on the same CPU it gets hardly any CPU time",
                "5.15");
  CKC_REQUIRE(Root(), ServedByCgroupVersion("cpu", 2, "v1-has-no-cpu.idle"),
              V2Knob("cpu", "cpu.idle"));
  RetryOnce(IdleAttempt);
}

// --- pids.events ------------------------------------------------------------------------------

// How pids.events counts a refused fork on this kernel and mount.
enum class PidsSemantics { kForkingGroup, kLocalMount, kLimitHolder };

PidsSemantics CurrentPidsSemantics() {
  if (!CgroupFeature("pids_localevents")) return PidsSemantics::kForkingGroup;
  if (V2MountOption("pids_localevents")) return PidsSemantics::kLocalMount;
  return PidsSemantics::kLimitHolder;
}

std::string_view Name(PidsSemantics s) {
  switch (s) {
    case PidsSemantics::kForkingGroup:
      return "forking-group (no pids_localevents in /sys/kernel/cgroup/features)";
    case PidsSemantics::kLocalMount:
      return "forking-group (cgroup2 mounted with pids_localevents)";
    case PidsSemantics::kLimitHolder:
      return "limit-holder (pids_localevents kernel, default mount: pids.events hierarchical, "
             "pids.events.local the group's own limit)";
  }
  return "";
}

// In a child: one fork that stays (pids.max 2 with the child itself), then two refused ones.
int ForkPastLimit(Channel& ch) {
  pid_t kid = ::fork();
  if (kid == 0) {
    ::pause();
    ::_exit(0);
  }
  if (kid < 0) return ReportErrno(ch, "setup: fork", 2);
  int refused = 0;
  std::string other;
  for (int i = 0; i < 2; ++i) {
    pid_t p = ::fork();
    if (p == 0) ::_exit(0);
    if (p > 0) ::waitpid(p, nullptr, 0);
    if (p < 0 && errno == EAGAIN) ++refused;
    if (p < 0 && errno != EAGAIN) other = ErrnoName(errno);
    if (p > 0) other = "a fork past pids.max succeeded";
  }
  ::kill(kid, SIGKILL);
  ::waitpid(kid, nullptr, 0);
  Observe(ch, "refused", std::to_string(refused));
  if (!other.empty()) Observe(ch, "other", other);
  return 0;
}

uint64_t MaxOf(const Cgroup& cg, std::string_view file) {
  auto keyed = cg.ReadKeyed("pids", file);
  return keyed ? (*keyed)["max"] : UINT64_MAX;
}

TEST(PidsV2, EventsCountRefusedForks) {
  // Source: cgroup-v2.rst "PID Interface Files" pids.events max, pids.events.local and the mount
  // option pids_localevents ("restores v1-like behavior of pids.events:max, that is only local
  // (inside cgroup proper) fork failures are counted"); before 6.12, kernel/cgroup/pids.c counted
  // the refusal in the forking task's group. The features file and the mount decide which is
  // checked; the property "semantics" records it.
  // Negative control: a kernel counting elsewhere than its semantics says fails the exact counts;
  // v1 skips (cgroup-mode).
  CKC_BEHAVIOUR("pids.events", "K",
                "each fork refused by a pids.max limit counts in pids.events max: where the kernel "
                "lists pids_localevents, in the limit's group and its ancestors, with "
                "pids.events.local counting only the group's own limit; before, in the group of "
                "the forking task only");
  CKC_REQUIRE(Root(), ServedByCgroupVersion("pids", 2, "v1-has-no-pids.events.local"));
  PidsSemantics sem = CurrentPidsSemantics();
  RecordProperty("semantics", std::string(Name(sem)));
  ASSERT_OK_AND_ASSIGN(Cgroup top, Cgroup::Create(Cgroups(), "pidsev", {"pids"}));
  ASSERT_OK_AND_ASSIGN(Cgroup limit, top.CreateChild("limit"));
  ASSERT_OK_AND_ASSIGN(Cgroup leaf, limit.CreateChild("leaf"));
  ASSERT_OK(limit.SetPidsMax(2));
  ASSERT_OK_AND_ASSIGN(ChildResult r, RunIn(leaf, ForkPastLimit));
  Observations o = Parse(r);
  ASSERT_TRUE(r.status.Exited(0)) << r.Describe();
  EXPECT_EQ(o["refused"], "2") << "two forks past pids.max 2 refused with EAGAIN: " << r.Describe();
  std::string seen = fmt::format("{}; pids.events max top/limit/leaf {}/{}/{}", Name(sem),
                                 MaxOf(top, "pids.events"), MaxOf(limit, "pids.events"),
                                 MaxOf(leaf, "pids.events"));
  if (sem != PidsSemantics::kLimitHolder) {
    EXPECT_EQ(MaxOf(leaf, "pids.events"), 2u) << "the forking task's group counts: " << seen;
    EXPECT_EQ(MaxOf(limit, "pids.events"), 0u) << "the limit's group does not: " << seen;
    EXPECT_EQ(MaxOf(top, "pids.events"), 0u) << "nor its parent: " << seen;
    return;
  }
  seen += fmt::format("; pids.events.local max top/limit/leaf {}/{}/{}",
                      MaxOf(top, "pids.events.local"), MaxOf(limit, "pids.events.local"),
                      MaxOf(leaf, "pids.events.local"));
  EXPECT_EQ(MaxOf(limit, "pids.events"), 2u) << "the limit's group counts: " << seen;
  EXPECT_EQ(MaxOf(top, "pids.events"), 2u) << "and its ancestors (hierarchical): " << seen;
  EXPECT_EQ(MaxOf(leaf, "pids.events"), 0u) << "not the group below the limit: " << seen;
  EXPECT_EQ(MaxOf(limit, "pids.events.local"), 2u) << "the own limit, locally: " << seen;
  EXPECT_EQ(MaxOf(top, "pids.events.local"), 0u) << "a descendant's limit, not local: " << seen;
  EXPECT_EQ(MaxOf(leaf, "pids.events.local"), 0u) << "no limit of its own: " << seen;
}

// --- io.max-iops ------------------------------------------------------------------------------

// In a child: `ops` 4 KiB O_DIRECT requests (writes or reads) on `dev`, issued by four threads
// so that requests queue behind the throttle (one synchronous stream would add the device's own
// latency to every wait). The microseconds between the completion of request `skip` (what the
// first throttle slice lets pass at once) and of the last, or -errno.
long IopsWindowUs(const std::string& dev, bool write, int ops, int skip) {
  int fd = ::open(dev.c_str(), (write ? O_WRONLY : O_RDONLY) | O_DIRECT | O_CLOEXEC);
  if (fd < 0) return -errno;
  std::atomic<int> next{0}, done{0}, err{0};
  std::atomic<long> t_skip{0}, t_end{0};
  auto now_us = [] {
    return long(std::chrono::duration_cast<std::chrono::microseconds>(
                    std::chrono::steady_clock::now().time_since_epoch())
                    .count());
  };
  auto worker = [&] {
    void* buf = nullptr;
    if (::posix_memalign(&buf, 4096, 4096) != 0) return (void)err.store(ENOMEM);
    std::unique_ptr<void, decltype(&std::free)> owner(buf, &std::free);
    std::memset(buf, 0x5a, 4096);
    for (int i; (i = next.fetch_add(1)) < ops;) {
      off_t at = off_t(i % 64) * 4096 * 16;  // apart (no merging), reused (no new backing pages)
      ssize_t n = write ? ::pwrite(fd, buf, 4096, at) : ::pread(fd, buf, 4096, at);
      if (n != 4096) return (void)err.store(n < 0 ? errno : EIO);
      int d = done.fetch_add(1) + 1;
      if (d == skip) t_skip = now_us();
      if (d == ops) t_end = now_us();
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  ::close(fd);
  if (err) return -err;
  return std::max(t_end - t_skip, 1L);
}

struct IoRates {
  double write = 0, read = 0;  // requests per second
};

// Write and read rates of a child in `cg`: `ops` requests each, timed after the first `skip`.
Result<IoRates> Rates(const Cgroup& cg, const LoopDevice& disk, std::pair<int, int> ops,
                      std::pair<int, int> skip) {
  CKC_TRY(r, RunIn(cg, [&](Channel& ch) {
            long w = IopsWindowUs(disk.path(), true, ops.first, skip.first);
            long rd = IopsWindowUs(disk.path(), false, ops.second, skip.second);
            return Report(ch, fmt::format("{} {}", w, rd), 0);
          }));
  long w = 0, rd = 0;
  if (!r.status.Exited(0) || r.reports.size() != 1 ||
      std::sscanf(r.reports[0].c_str(), "%ld %ld", &w, &rd) != 2 || w <= 0 || rd <= 0) {
    return Failure("O_DIRECT requests", disk.path(), r.Describe());
  }
  return IoRates{(ops.first - skip.first) * 1e6 / double(w),
                 (ops.second - skip.second) * 1e6 / double(rd)};
}

// The limit for a direction: a quarter of what the device does unthrottled (a loop device under
// emulation may manage only ~100 writes/s), at most 100/s, at least 10/s.
int LimitFor(double free_rate) { return std::clamp(int(free_rate / 4), 10, 100); }

Result<std::optional<std::string>> IopsAttempt(const LoopDevice& disk, IoRates free) {
  int wl = LimitFor(free.write), rl = LimitFor(free.read);
  CKC_TRY(cg, Cgroup::Create(Cgroups(), "iops", {"io"}));
  CKC_CHECK(cg.Write(
      "io", "io.max",
      fmt::format("{}:{} riops={} wiops={}", major(disk.dev()), minor(disk.dev()), rl, wl)));
  // Skip what the first 100 ms throttle slice lets pass at once; time ~0.4 s after it.
  auto skip = std::pair{wl / 10 + 2, rl / 10 + 2};
  auto ops = std::pair{skip.first + std::max(8, wl * 2 / 5), skip.second + std::max(8, rl * 2 / 5)};
  CKC_TRY(rates, Rates(cg, disk, ops, skip));
  auto near = [](double rate, int limit) { return rate >= 0.6 * limit && rate <= 1.25 * limit; };
  if (near(rates.write, wl) && near(rates.read, rl)) return std::nullopt;
  return fmt::format(
      "wiops={} riops={}: {:.1f} writes/s, {:.1f} reads/s (expected 0.6..1.25 x the limit; "
      "unthrottled {:.0f} / {:.0f})",
      wl, rl, rates.write, rates.read, free.write, free.read);
}

TEST(IoV2, MaxIopsHoldsRequestRate) {
  // Source: cgroup-v2.rst io.max ("riops: max read IO operations per second", "wiops: max write
  // IO operations per second"); the io.throttle-direct row checks the bps keys. The limits are a
  // quarter of the device's own unthrottled rates (measured first in a group without io.max).
  // Negative control: io.max left at max runs at the unthrottled rate, 4x the limit (fail); no
  // CONFIG_BLK_DEV_THROTTLING skips (kernel:io.max).
  CKC_BEHAVIOUR("io.max-iops", "K",
                "io.max riops and wiops keep the rate of a group's O_DIRECT reads and writes on "
                "a block device close to the limit");
  CKC_REQUIRE(Root(), ServedByCgroupVersion("io", 2, "v1-has-no-io.max"), V2Knob("io", "io.max"));
  ASSERT_OK_AND_ASSIGN(LoopDevice disk, LoopDevice::Create(TestDir() + "/disk.img", 64 * kMiB));
  ASSERT_OK_AND_ASSIGN(Cgroup ref, Cgroup::Create(Cgroups(), "iops-ref", {"io"}));
  ASSERT_OK_AND_ASSIGN(IoRates free, Rates(ref, disk, {24, 40}, {4, 8}));
  CKC_ASSERT_SETUP(std::min(free.write, free.read) >= 40)
      << "the device is too slow to tell a 10/s limit: " << free.write << " writes/s, " << free.read
      << " reads/s";
  RetryOnce([&] { return IopsAttempt(disk, free); });
}

// --- psi.per-cgroup ---------------------------------------------------------------------------

Result<uint64_t> SomeTotal(const Cgroup& cg, std::string_view file) {
  CKC_TRY(text, cg.Read("memory", file));
  auto total = PressureTotalUs(text, "some");
  if (!total) return Failure("parse", file, text);
  return *total;
}

TEST(PsiV2, MemoryPressureOfThrottledGroup) {
  // Source: cgroup-v2.rst "PSI - Pressure Stall Information" (cpu.pressure, memory.pressure,
  // io.pressure per cgroup) and accounting/psi.rst "Cgroup2 interface"; the stall is the
  // memory.high throttling of mem.high-throttles.
  // Negative control: psi=0 (or CONFIG_PSI_DEFAULT_DISABLED) skips; a group without memory.high
  // (the reference) shows no memory stall.
  CKC_BEHAVIOUR("psi.per-cgroup", "K",
                "every group has its own cpu.pressure, memory.pressure and io.pressure, and the "
                "memory \"some\" stall time of a group held back by memory.high grows while a "
                "sibling that is not held back shows none");
  CKC_REQUIRE(Root(), ServedByCgroupVersion("memory", 2, "v1-has-no-memory.high"), Psi());
  ASSERT_OK_AND_ASSIGN(Cgroup slow, Cgroup::Create(Cgroups(), "psi-high", {"memory"}));
  ASSERT_OK_AND_ASSIGN(Cgroup calm, Cgroup::Create(Cgroups(), "psi-calm", {"memory"}));
  for (const char* f : {"cpu.pressure", "memory.pressure", "io.pressure"}) {
    auto total = SomeTotal(slow, f);
    EXPECT_TRUE(total.has_value()) << "a group's " << f << ": " << total.error().Message();
  }
  ASSERT_OK(NoSwap(slow));
  ASSERT_OK(NoSwap(calm));
  ASSERT_OK_AND_ASSIGN(InGroup a, StartToucher(calm, 17 * kMiB));
  ASSERT_OK_AND_ASSIGN(InGroup b, StartToucher(slow, 17 * kMiB));
  for (InGroup* c : {&a, &b}) ASSERT_OK(c->ch.Expect("ready", 10s));
  ASSERT_OK_AND_ASSIGN(uint64_t base, slow.MemoryCurrent());
  ASSERT_OK(slow.SetMemoryHigh(base + 16 * kMiB));
  ASSERT_OK_AND_ASSIGN(uint64_t p0, SomeTotal(slow, "memory.pressure"));
  ASSERT_OK_AND_ASSIGN(uint64_t q0, SomeTotal(calm, "memory.pressure"));
  ASSERT_OK(a.ch.Send("go"));
  ASSERT_OK_AND_ASSIGN(TouchTiming ta, AwaitTouch(a, 30s));
  ASSERT_OK(b.ch.Send("go"));
  ASSERT_OK_AND_ASSIGN(TouchTiming tb, AwaitTouch(b, 60s));
  ASSERT_OK_AND_ASSIGN(uint64_t p1, SomeTotal(slow, "memory.pressure"));
  ASSERT_OK_AND_ASSIGN(uint64_t q1, SomeTotal(calm, "memory.pressure"));
  ASSERT_OK(FinishToucher(a));
  ASSERT_OK(FinishToucher(b));
  uint64_t stall = p1 - p0, calm_stall = q1 - q0;
  std::string seen = fmt::format(
      "memory.pressure some: held back {} ms (off-CPU {} ms), reference {} ms (off-CPU {} ms)",
      stall / 1000, tb.off_cpu_us() / 1000, calm_stall / 1000, ta.off_cpu_us() / 1000);
  CKC_ASSERT_SETUP(tb.off_cpu_us() >= 100000)
      << "memory.high did not hold the group back: " << seen;
  EXPECT_GE(stall, tb.off_cpu_us() / 2)
      << "the stall shows in the group's memory.pressure: " << seen;
  EXPECT_LE(4 * calm_stall, stall) << "the sibling has no memory stall: " << seen;
}

}  // namespace
}  // namespace ckc::test

// Rows mem.* of Part 2: the cgroup v2 memory interface (cgroup-v2.rst "Memory Interface Files",
// "Memory Ownership"; the kselftests in tools/testing/selftests/cgroup/test_memcontrol.c show the
// same interfaces exercised). Every row here needs the memory controller on cgroup v2.
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>
#include <map>
#include <string>
#include <vector>

#include "cgv2_support.h"
#include "inet.h"
#include "loopdev.h"
#include "netlink.h"

namespace ckc::test {
namespace {

Requirement MemoryV2(std::string reason) {
  return ServedByCgroupVersion("memory", 2, std::move(reason));
}

Result<uint64_t> ReadU64(const Cgroup& cg, std::string_view file) {
  CKC_TRY(text, cg.Read("memory", file));
  return std::stoull(text);
}

// Reads `len` bytes of `loop` at `offset` from a child in `cg`, so the page cache is charged
// to `cg` (and stays charged after the child has gone).
Status FillCache(const Cgroup& cg, const LoopDevice& loop, off_t offset, size_t len) {
  CKC_TRY(r, RunIn(cg, [&](Channel& ch) {
            if (int err = ReadThroughCache(loop.path(), offset, len))
              return Report(ch, "read: " + ErrnoName(err));
            return 0;
          }));
  if (!r.status.Exited(0)) return Failure("read through the cache", loop.path(), r.Describe());
  return {};
}

// --- mem.high-throttles -----------------------------------------------------------------------

// Page cache read past memory.high is reclaimed back to about the boundary; no OOM.
void CheckHighReclaimsCache(const LoopDevice& loop) {
  ASSERT_OK_AND_ASSIGN(Cgroup cg, Cgroup::Create(Cgroups(), "high-cache", {"memory"}));
  ASSERT_OK(cg.SetMemoryHigh(8 * kMiB));
  ASSERT_OK_AND_ASSIGN(ChildResult r, RunIn(cg, [&](Channel& ch) {
                         if (int err = ReadThroughCache(loop.path(), 0, 32 * kMiB))
                           return Report(ch, ErrnoName(err));
                         return 0;
                       }));
  ASSERT_OK_AND_ASSIGN(MemoryEvents ev, cg.GetMemoryEvents());
  ASSERT_OK_AND_ASSIGN(MemoryStat stat, cg.MemoryStats());
  EXPECT_TRUE(r.status.Exited(0)) << "reading 32 MiB under memory.high 8M: " << r.Describe();
  EXPECT_EQ(ev.oom_kill, 0u) << "memory.high never OOM-kills";
  EXPECT_GE(ev.high, 1u) << "memory.events high counts the breaches of the cache reader";
  EXPECT_LE(stat.file, 10 * kMiB)
      << "the page cache is reclaimed back to about memory.high (8 MiB) of the 32 MiB read";
}

// Anonymous memory cannot be reclaimed without swap: a group that goes 1 MiB past memory.high is
// put to sleep (the penalty grows with the square of the overage) and carries on; a group
// without memory.high touching the same amount is the reference.
void CheckHighThrottlesAnon() {
  constexpr size_t kTouch = 17 * kMiB, kOver = kMiB;
  ASSERT_OK_AND_ASSIGN(Cgroup free, Cgroup::Create(Cgroups(), "high-none", {"memory"}));
  ASSERT_OK_AND_ASSIGN(Cgroup slow, Cgroup::Create(Cgroups(), "high-anon", {"memory"}));
  ASSERT_OK(NoSwap(free));
  ASSERT_OK(NoSwap(slow));
  ASSERT_OK_AND_ASSIGN(InGroup a, StartToucher(free, kTouch));
  ASSERT_OK_AND_ASSIGN(InGroup b, StartToucher(slow, kTouch));
  ASSERT_OK(a.ch.Expect("ready", 10s));
  ASSERT_OK(b.ch.Expect("ready", 10s));
  ASSERT_OK_AND_ASSIGN(uint64_t base, slow.MemoryCurrent());
  uint64_t high = base + kTouch - kOver;
  ASSERT_OK(slow.SetMemoryHigh(high));
  ASSERT_OK(a.ch.Send("go"));
  ASSERT_OK_AND_ASSIGN(TouchTiming ta, AwaitTouch(a, 30s));
  ASSERT_OK(b.ch.Send("go"));
  auto tb = AwaitTouch(b, 60s);
  if (!tb) {
    auto st = b.child.Wait(5s);
    FAIL() << "the group over memory.high did not finish touching its memory: "
           << tb.error().Message() << "; " << (st ? st->Describe() : st.error().Message());
  }
  ASSERT_OK_AND_ASSIGN(MemoryEvents ev, slow.GetMemoryEvents());
  ASSERT_OK_AND_ASSIGN(uint64_t usage, slow.MemoryCurrent());
  EXPECT_THAT(FinishToucher(b), IsOk()) << "the throttled child lives on";
  ASSERT_OK(FinishToucher(a));
  std::string seen = fmt::format(
      "17 MiB touched; memory.high {} KiB, usage after {} KiB; throttled: wall {} ms, off-CPU {} "
      "ms; reference: wall {} ms, off-CPU {} ms",
      high / 1024, usage / 1024, tb->wall_us / 1000, tb->off_cpu_us() / 1000, ta.wall_us / 1000,
      ta.off_cpu_us() / 1000);
  EXPECT_EQ(ev.oom + ev.oom_kill, 0u) << "memory.high never OOM-kills: " << seen;
  EXPECT_GE(ev.high, 1u) << "memory.events high: " << seen;
  EXPECT_TRUE(tb->off_cpu_us() >= 100000 && tb->off_cpu_us() >= 3 * ta.off_cpu_us())
      << "the group over memory.high is made to sleep (>= 100 ms and 3x the reference): " << seen;
}

TEST(MemoryV2, HighReclaimsAndThrottlesWithoutOomKill) {
  // Source: cgroup-v2.rst memory.high ("the processes of the cgroup are throttled and put under
  // heavy reclaim pressure"; "never invokes the OOM killer") and memory.events high.
  // Negative control: memory.high left at max gives no high events, a cache above 8 MiB and no
  // sleep (fail); a kernel that OOM-killed at memory.high fails the no-kill checks.
  CKC_BEHAVIOUR("mem.high-throttles", "K",
                "past memory.high a group's page cache is reclaimed back to the boundary, and a "
                "group with nothing left to reclaim is slowed by sleeps instead of being "
                "OOM-killed; memory.events high counts each breach");
  CKC_REQUIRE(Root(), MemoryV2("v1-has-no-memory.high"));
  ASSERT_OK_AND_ASSIGN(LoopDevice loop, LoopDevice::Create(TestDir() + "/disk.img", 64 * kMiB));
  CheckHighReclaimsCache(loop);
  if (HasFatalFailure()) return;
  CheckHighThrottlesAnon();
}

// --- mem.min-low-protect ----------------------------------------------------------------------

struct Charges {
  uint64_t min = 0, low = 0, plain = 0;
};

Result<Charges> ChargesOf(const Cgroup& min, const Cgroup& low, const Cgroup& plain) {
  CKC_TRY(a, min.MemoryCurrent());
  CKC_TRY(b, low.MemoryCurrent());
  CKC_TRY(c, plain.MemoryCurrent());
  return Charges{a, b, c};
}

std::string Describe(const char* when, const Charges& c, uint64_t low_events) {
  return fmt::format("{}: min-group {} KiB, low-group {} KiB, unprotected {} KiB, low events {}",
                     when, c.min / 1024, c.low / 1024, c.plain / 1024, low_events);
}

Result<uint64_t> LowEvents(const Cgroup& cg) {
  CKC_TRY(events, cg.ReadKeyed("memory", "memory.events"));
  return events["low"];
}

// The hog allocates anonymous memory that cannot be reclaimed (no swap under the parent) in two
// steps: 24 MiB, then 16 MiB more.
int Hog(Channel& ch) {
  char* p = MapSmallPages(40 * kMiB);
  if (!p) return ReportErrno(ch, "mmap");
  TouchPattern(p, 24 * kMiB);
  (void)ch.Send("phase1");
  if (!ch.Expect("more").has_value()) return 1;
  TouchPattern(p + 24 * kMiB, 16 * kMiB);
  (void)ch.Send("phase2");
  return ch.Expect("exit").has_value() ? 0 : 1;
}

TEST(MemoryV2, MinAndLowProtectPageCache) {
  // Source: cgroup-v2.rst memory.min ("won't be reclaimed under any conditions"), memory.low
  // ("won't be reclaimed unless there is no reclaimable memory available in unprotected
  // cgroups"), memory.events low; test_memcontrol.c test_memcg_min/low for the layout.
  // Negative control: without memory.min/memory.low the protected caches shrink in step 1 like
  // the unprotected one (fail); a memory.low that held in step 2 too (a hard limit) would OOM-kill
  // the hog and count no low event (fail).
  CKC_BEHAVIOUR("mem.min-low-protect", "K",
                "under a common parent limit, a sibling's demand takes the unprotected group's "
                "page cache first; memory.low gives way only once nothing unprotected is left, "
                "counting it in memory.events low, while memory.min is never reclaimed");
  CKC_REQUIRE(Root(), MemoryV2("v1-has-no-memory.min"));
  ASSERT_OK_AND_ASSIGN(LoopDevice loop, LoopDevice::Create(TestDir() + "/disk.img", 64 * kMiB));
  ASSERT_OK_AND_ASSIGN(Cgroup parent, Cgroup::Create(Cgroups(), "protect", {"memory"}));
  ASSERT_OK(parent.SetMemoryMax(64 * kMiB));
  ASSERT_OK(NoSwap(parent));
  ASSERT_OK_AND_ASSIGN(Cgroup min, parent.CreateChild("min"));
  ASSERT_OK_AND_ASSIGN(Cgroup low, parent.CreateChild("low"));
  ASSERT_OK_AND_ASSIGN(Cgroup plain, parent.CreateChild("plain"));
  ASSERT_OK_AND_ASSIGN(Cgroup hog, parent.CreateChild("hog"));
  ASSERT_OK(min.Write("memory", "memory.min", std::to_string(24 * kMiB)));
  ASSERT_OK(low.Write("memory", "memory.low", std::to_string(24 * kMiB)));
  ASSERT_OK(FillCache(min, loop, 0, 16 * kMiB));
  ASSERT_OK(FillCache(low, loop, 16 * kMiB, 16 * kMiB));
  ASSERT_OK(FillCache(plain, loop, 32 * kMiB, 16 * kMiB));
  ASSERT_OK_AND_ASSIGN(Charges c0, ChargesOf(min, low, plain));
  ASSERT_OK_AND_ASSIGN(InGroup h, StartIn(hog, Hog));
  // 48 MiB of cache + 24 MiB of anon > 64 MiB: the unprotected cache covers the difference.
  ASSERT_OK(h.ch.Expect("phase1", 30s));
  ASSERT_OK_AND_ASSIGN(Charges c1, ChargesOf(min, low, plain));
  ASSERT_OK_AND_ASSIGN(uint64_t e1, LowEvents(low));
  // 40 MiB of anon + 16 MiB under memory.min leave < 8 MiB: memory.low must give way.
  ASSERT_OK(h.ch.Send("more"));
  ASSERT_OK(h.ch.Expect("phase2", 30s));
  ASSERT_OK_AND_ASSIGN(Charges c2, ChargesOf(min, low, plain));
  ASSERT_OK_AND_ASSIGN(uint64_t e2, LowEvents(low));
  ASSERT_OK(h.ch.Send("exit"));
  std::string seen = Describe("before", c0, 0) + "; " + Describe("24 MiB taken", c1, e1) + "; " +
                     Describe("40 MiB taken", c2, e2);
  CKC_ASSERT_SETUP(std::min({c0.min, c0.low, c0.plain}) >= 15 * kMiB) << "caches: " << seen;
  EXPECT_LE(c1.plain + 6 * kMiB, c0.plain) << "the unprotected cache is reclaimed first: " << seen;
  EXPECT_GE(c1.low + kMiB, c0.low) << "memory.low holds while unprotected cache is left: " << seen;
  EXPECT_EQ(e1, 0u) << "no low event while the protection held: " << seen;
  EXPECT_LE(c2.low + 6 * kMiB, c0.low) << "memory.low is best effort: " << seen;
  EXPECT_GE(e2, 1u) << "reclaim below memory.low counts in memory.events low: " << seen;
  EXPECT_GE(c2.min + kMiB, c0.min) << "memory.min is never reclaimed: " << seen;
  ASSERT_OK_AND_ASSIGN(ExitStatus st, h.child.Wait(10s));
  EXPECT_TRUE(st.Exited(0)) << "the hog fits (no OOM kill): " << st.Describe();
}

// --- mem.peak ---------------------------------------------------------------------------------

// memory.peak takes writes (a reset for the writing open file) since 6.12; before, it has no
// write handler and kernfs refuses to open it for writing (EACCES). Probed on the row's group
// before anything is charged to it.
Result<std::optional<std::string>> PeakResetMissing(const std::string& path) {
  auto fd = OpenFile(path, O_WRONLY);
  if (!fd && (fd.error().err == EACCES || fd.error().err == EINVAL)) {
    return fmt::format("kernel:memory.peak-reset (open for writing: {})",
                       ErrnoName(fd.error().err));
  }
  if (!fd) return Propagate(fd.error());
  if (::write(fd->get(), "reset", 5) >= 0) return std::nullopt;
  if (errno == EINVAL) return std::string("kernel:memory.peak-reset (write: EINVAL)");
  return ErrnoError("write", path);
}

Result<uint64_t> PreadU64(int fd) {
  char buf[64] = {};
  ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return ErrnoError("pread", "memory.peak");
  return std::stoull(buf);
}

// A child that touches 32 MiB, frees it on "free" and on "again" touches 8 MiB.
int PeakChild(Channel& ch) {
  char* p = MapSmallPages(32 * kMiB);
  if (!p) return ReportErrno(ch, "mmap");
  TouchPattern(p, 32 * kMiB);
  (void)ch.Send("touched");
  if (!ch.Expect("free").has_value()) return 1;
  ::munmap(p, 32 * kMiB);
  (void)ch.Send("freed");
  auto next = ch.Recv(30s);
  if (next && *next == "again") {
    char* q = MapSmallPages(8 * kMiB);
    if (!q) return ReportErrno(ch, "mmap");
    TouchPattern(q, 8 * kMiB);
    (void)ch.Send("touched-again");
    next = ch.Recv(30s);
  }
  return next && *next == "exit" ? 0 : 1;
}

// After a reset through one open file, that file reports the usage since; others keep the mark.
void CheckPeakReset(const Cgroup& cg, InGroup& c, uint64_t peak) {
  ASSERT_OK_AND_ASSIGN(std::string dir, cg.Dir("memory"));
  ASSERT_OK_AND_ASSIGN(UniqueFd fd, OpenFile(dir + "/memory.peak", O_RDWR));
  ASSERT_THAT(::write(fd.get(), "reset", 5), SyscallSucceeds()) << "reset of memory.peak";
  ASSERT_OK_AND_ASSIGN(uint64_t usage, cg.MemoryCurrent());
  ASSERT_OK_AND_ASSIGN(uint64_t fd0, PreadU64(fd.get()));
  ASSERT_OK(c.ch.Send("again"));
  ASSERT_OK(c.ch.Expect("touched-again", 30s));
  ASSERT_OK_AND_ASSIGN(uint64_t fd1, PreadU64(fd.get()));
  ASSERT_OK_AND_ASSIGN(uint64_t global, ReadU64(cg, "memory.peak"));
  std::string seen = fmt::format(
      "mark {} KiB; after the reset: usage {} KiB, through the resetting file {} KiB, then {} KiB "
      "after 8 MiB more; a new open file reads {} KiB",
      peak / 1024, usage / 1024, fd0 / 1024, fd1 / 1024, global / 1024);
  EXPECT_LE(fd0, usage + 2 * kMiB) << "the reset file starts again from the usage: " << seen;
  EXPECT_TRUE(fd1 >= fd0 + 7 * kMiB && fd1 + 16 * kMiB <= peak)
      << "the reset file records the new, lower mark: " << seen;
  EXPECT_GE(global, peak) << "other open files keep the group's mark: " << seen;
}

TEST(MemoryV2, PeakKeepsHighWaterMark) {
  // Source: cgroup-v2.rst memory.peak ("the max memory usage recorded for the cgroup and its
  // descendants since the creation of the cgroup or the most recent reset for that FD"; "a write
  // of any non-empty string to this file resets it ... for subsequent reads through the same file
  // descriptor"). The reset (6.12) is probed on its own: without it only the mark is checked and
  // the property memory.peak-reset names the missing part.
  // Negative control: a kernel without memory.peak skips (kernel:memory.peak); one that reported
  // current usage as the peak fails the mark check.
  CKC_BEHAVIOUR("mem.peak", "K",
                "memory.peak still shows a group's highest usage after that memory is freed, and "
                "where it accepts writes, writing resets the mark seen through that open file only",
                "5.19");
  CKC_REQUIRE(Root(), MemoryV2("v1-has-no-memory.peak"), V2Knob("memory", "memory.peak"));
  ASSERT_OK_AND_ASSIGN(Cgroup cg, Cgroup::Create(Cgroups(), "peak", {"memory"}));
  ASSERT_OK_AND_ASSIGN(std::string dir, cg.Dir("memory"));
  ASSERT_OK_AND_ASSIGN(std::optional<std::string> no_reset, PeakResetMissing(dir + "/memory.peak"));
  RecordProperty("memory.peak-reset", no_reset ? *no_reset : "supported");
  ASSERT_OK_AND_ASSIGN(InGroup c, StartIn(cg, PeakChild));
  ASSERT_OK(c.ch.Expect("touched", 30s));
  ASSERT_OK(c.ch.Send("free"));
  ASSERT_OK(c.ch.Expect("freed", 10s));
  ASSERT_OK_AND_ASSIGN(uint64_t usage, cg.MemoryCurrent());
  ASSERT_OK_AND_ASSIGN(uint64_t peak, ReadU64(cg, "memory.peak"));
  EXPECT_GE(peak, 30 * kMiB) << "memory.peak after 32 MiB were touched and freed";
  EXPECT_LE(usage + 24 * kMiB, peak) << "usage " << usage << " after freeing, peak " << peak;
  if (!no_reset) CheckPeakReset(cg, c, peak);
  ASSERT_OK(c.ch.Send("exit"));
  ASSERT_OK_AND_ASSIGN(ExitStatus st, c.child.Wait(10s));
  EXPECT_TRUE(st.Exited(0)) << st.Describe();
}

// --- mem.reclaim ------------------------------------------------------------------------------

TEST(MemoryV2, ReclaimTakesTheAmountAsked) {
  // Source: cgroup-v2.rst memory.reclaim ("the kernel ... reclaims ... the specified amount";
  // "-EAGAIN is returned" when it could not reclaim enough); test_memcontrol.c
  // test_memcg_reclaim.
  // Negative control: a kernel without memory.reclaim skips (kernel:memory.reclaim); one that
  // reclaimed everything or nothing fails the amount check.
  CKC_BEHAVIOUR("mem.reclaim", "K",
                "writing an amount to memory.reclaim frees about that much of the group's "
                "memory, and asking for more than can be freed fails with EAGAIN",
                "5.19");
  CKC_REQUIRE(Root(), MemoryV2("v1-has-no-memory.reclaim"), V2Knob("memory", "memory.reclaim"));
  ASSERT_OK_AND_ASSIGN(LoopDevice loop, LoopDevice::Create(TestDir() + "/disk.img", 64 * kMiB));
  ASSERT_OK_AND_ASSIGN(Cgroup cg, Cgroup::Create(Cgroups(), "reclaim", {"memory"}));
  ASSERT_OK(FillCache(cg, loop, 0, 32 * kMiB));
  ASSERT_OK_AND_ASSIGN(uint64_t before, cg.MemoryCurrent());
  CKC_ASSERT_SETUP(before >= 28 * kMiB) << "the 32 MiB read is charged to the group: " << before;
  EXPECT_THAT(cg.Write("memory", "memory.reclaim", "8M"), IsOk());
  ASSERT_OK_AND_ASSIGN(uint64_t after, cg.MemoryCurrent());
  uint64_t freed = before > after ? before - after : 0;
  EXPECT_TRUE(freed >= 7 * kMiB && freed <= 16 * kMiB)
      << "asked for 8 MiB: usage " << before / 1024 << " KiB -> " << after / 1024 << " KiB";
  EXPECT_THAT(cg.Write("memory", "memory.reclaim", "1G"), FailsWith(EAGAIN))
      << "a group of ~" << after / kMiB << " MiB cannot give 1 GiB";
  ASSERT_OK_AND_ASSIGN(uint64_t last, cg.MemoryCurrent());
  EXPECT_LE(last, 2 * kMiB) << "what could be reclaimed was: usage " << last / 1024 << " KiB";
}

// --- mem.events-local -------------------------------------------------------------------------

TEST(MemoryV2, EventsHierarchicalEventsLocalOwn) {
  // Source: cgroup-v2.rst memory.events ("the values ... are hierarchical"), memory.events.local
  // ("similar to memory.events but the fields in the file are local to the cgroup"), and the
  // memory_localevents mount option (memory.events then local too: the row records which).
  // Negative control: a cgroup2 mounted with memory_localevents makes the parent's memory.events
  // local (checked as such); a kernel without memory.events.local skips
  // (kernel:memory.events.local).
  CKC_BEHAVIOUR(
      "mem.events-local", "K",
      "an OOM kill in a child group counts in the parent's memory.events too, but only in "
      "the child's own memory.events.local");
  CKC_REQUIRE(Root(), MemoryV2("v1-has-no-memory.events.local"),
              V2Knob("memory", "memory.events.local"));
  bool local_mount = V2MountOption("memory_localevents");
  RecordProperty("semantics", local_mount ? "memory_localevents mount: memory.events local"
                                          : "memory.events hierarchical");
  ASSERT_OK_AND_ASSIGN(Cgroup parent, Cgroup::Create(Cgroups(), "events", {"memory"}));
  ASSERT_OK_AND_ASSIGN(Cgroup child, parent.CreateChild("oom"));
  ASSERT_OK(child.SetMemoryMax(8 * kMiB));
  ASSERT_OK(NoSwap(child));
  ASSERT_OK_AND_ASSIGN(Child hog, SpawnIn(child, []() -> int { AllocateForever(); }));
  ASSERT_OK_AND_ASSIGN(ExitStatus st, hog.Wait(30s));
  CKC_ASSERT_SETUP(st.KilledBy(SIGKILL) && !st.timed_out) << "the OOM kill: " << st.Describe();
  using Keyed = std::map<std::string, uint64_t>;
  ASSERT_OK_AND_ASSIGN(Keyed p, parent.ReadKeyed("memory", "memory.events"));
  ASSERT_OK_AND_ASSIGN(Keyed pl, parent.ReadKeyed("memory", "memory.events.local"));
  ASSERT_OK_AND_ASSIGN(Keyed c, child.ReadKeyed("memory", "memory.events"));
  ASSERT_OK_AND_ASSIGN(Keyed cl, child.ReadKeyed("memory", "memory.events.local"));
  std::string seen = fmt::format(
      "oom_kill/max: parent events {}/{}, parent local {}/{}, child events {}/{}, child local "
      "{}/{}",
      p["oom_kill"], p["max"], pl["oom_kill"], pl["max"], c["oom_kill"], c["max"], cl["oom_kill"],
      cl["max"]);
  EXPECT_GE(cl["oom_kill"], 1u) << "the child's own kill: " << seen;
  EXPECT_GE(cl["max"], 1u) << "the child's own limit hits: " << seen;
  EXPECT_EQ(pl["oom_kill"] + pl["max"], 0u) << "nothing happened in the parent itself: " << seen;
  if (local_mount) {
    EXPECT_EQ(p["oom_kill"], 0u) << "memory_localevents: memory.events is local: " << seen;
  } else {
    EXPECT_EQ(p["oom_kill"], c["oom_kill"]) << "memory.events counts the subtree: " << seen;
    EXPECT_GE(p["max"], cl["max"]) << "memory.events counts the subtree: " << seen;
  }
}

// --- mem.oom-group-protected ------------------------------------------------------------------

TEST(MemoryV2, OomGroupSparesOomScoreAdjMin) {
  // Source: cgroup-v2.rst memory.oom.group ("tasks with the OOM protection (oom_score_adj set to
  // -1000) are treated as an exception and are never killed"); proc(5) oom_score_adj.
  // Negative control: without memory.oom.group only the allocator dies (the sleeper check
  // fails); without oom_score_adj -1000 the protected task dies too (fail).
  CKC_BEHAVIOUR("mem.oom-group-protected", "K",
                "when memory.oom.group kills a group, a member whose oom_score_adj is -1000 is "
                "left alive while every other member is SIGKILLed");
  CKC_REQUIRE(Root(), MemoryV2("v1-has-no-memory.oom.group"), NamespaceQuota(CLONE_NEWNET));
  ASSERT_OK_AND_ASSIGN(Cgroup cg, Cgroup::Create(Cgroups(), "oomprotect", {"memory"}));
  ASSERT_OK(cg.SetMemoryMax(16 * kMiB));
  ASSERT_OK(NoSwap(cg));
  ASSERT_OK(cg.Write("memory", "memory.oom.group", "1"));
  ASSERT_OK_AND_ASSIGN(InGroup guarded, StartIn(cg, [](Channel& ch) -> int {
                         if (auto st = WriteFile("/proc/self/oom_score_adj", "-1000"); !st)
                           return Report(ch, "setup: " + st.error().Message(), 2);
                         (void)ch.Send("ready");
                         for (;;) ::pause();
                       }));
  ASSERT_OK_AND_ASSIGN(InGroup sleeper, StartIn(cg, [](Channel& ch) -> int {
                         (void)ch.Send("ready");
                         for (;;) ::pause();
                       }));
  ASSERT_OK_AND_ASSIGN(InGroup hog, StartIn(cg, [](Channel& ch) -> int {
                         (void)ch.Send("ready");
                         if (!ch.Expect("go").has_value()) return 1;
                         AllocateForever();
                       }));
  for (InGroup* c : {&guarded, &sleeper, &hog}) ASSERT_OK(c->ch.Expect("ready", 10s));
  ASSERT_OK_AND_ASSIGN(MemoryEvents ev0, cg.GetMemoryEvents());
  ASSERT_OK(hog.ch.Send("go"));
  ASSERT_OK_AND_ASSIGN(ExitStatus hs, hog.child.Wait(30s));
  ASSERT_OK_AND_ASSIGN(ExitStatus ss, sleeper.child.Wait(10s));
  ASSERT_OK_AND_ASSIGN(auto gs, guarded.child.TryWait(500ms));
  ASSERT_OK_AND_ASSIGN(MemoryEvents ev1, cg.GetMemoryEvents());
  EXPECT_TRUE(hs.KilledBy(SIGKILL) && !hs.timed_out) << "the allocator: " << hs.Describe();
  EXPECT_TRUE(ss.KilledBy(SIGKILL) && !ss.timed_out)
      << "the idle member dies with the group: " << ss.Describe();
  EXPECT_FALSE(gs.has_value()) << "the oom_score_adj -1000 member survives, but it "
                               << (gs ? gs->Describe() : "");
  EXPECT_GE(ev1.oom_kill, ev0.oom_kill + 2) << "the kernel's kills counted in memory.events";
  if (!gs) {
    ASSERT_OK(guarded.child.Signal(SIGKILL));
    ASSERT_OK_AND_ASSIGN(ExitStatus gst, guarded.child.Wait(10s));
    (void)gst;
  }
}

// --- mem.sock-charged -------------------------------------------------------------------------

// In a child in a net namespace of its own (lo up, 4 MiB default TCP buffers there): a loopback
// connection whose server end sends up to 8 MiB that the client end leaves unread on "fill",
// reads on "drain".
int SocketChild(Channel& ch) {
  CKC_CHILD_TRY(nl, NetlinkSocket::Open());
  CKC_CHILD_CHECK(nl.SetUp("lo"));
  CKC_CHILD_CHECK(WriteFile("/proc/sys/net/ipv4/tcp_rmem", "4096 4194304 8388608"));
  CKC_CHILD_CHECK(WriteFile("/proc/sys/net/ipv4/tcp_wmem", "4096 4194304 8388608"));
  CKC_CHILD_TRY(listener, TcpListen("127.0.0.1"));
  CKC_CHILD_TRY(port, LocalPort(listener.get()));
  CKC_CHILD_TRY(client, TcpConnect("127.0.0.1", port, 5s));
  CKC_CHILD_TRY(server, Accept(listener.get(), 5s));
  (void)ch.Send("connected");
  if (!ch.Expect("fill").has_value()) return 1;
  std::vector<char> buf(64 * 1024, 'x');
  size_t queued = 0;
  while (queued < 8 * kMiB) {
    ssize_t n = ::send(server.get(), buf.data(), buf.size(), MSG_DONTWAIT);
    if (n < 0 && errno == EAGAIN) break;
    if (n < 0) return ReportErrno(ch, "send");
    queued += size_t(n);
  }
  Observe(ch, "queued", std::to_string(queued));
  if (!ch.Expect("drain").has_value()) return 1;
  for (size_t got = 0; got < queued;) {
    ssize_t n = ::recv(client.get(), buf.data(), buf.size(), 0);
    if (n <= 0) return ReportErrno(ch, "recv");
    got += size_t(n);
  }
  (void)ch.Send("drained");
  return ch.Expect("exit").has_value() ? 0 : 1;
}

Result<InGroup> StartInNewNetns(const Cgroup& cg, const std::function<int(Channel&)>& fn) {
  CKC_TRY(ch, Channel::Create());
  CKC_TRY(child, SpawnIn(cg,
                         [&] {
                           ch.BecomeChild();
                           return fn(ch);
                         },
                         {.flags = CLONE_NEWNET}));
  ch.BecomeParent();
  return InGroup{std::move(child), std::move(ch)};
}

Result<uint64_t> Sock(const Cgroup& cg) {
  CKC_TRY(stat, cg.MemoryStats());
  if (!stat.raw.contains("sock")) return Failure("read", "memory.stat", "no sock key");
  return stat.raw["sock"];
}

TEST(MemoryV2, SocketBuffersCharged) {
  // Source: cgroup-v2.rst "Memory Interface Files" memory.stat sock ("amount of memory used in
  // network transmission buffers") and "Memory Ownership" (socket memory is charged to the
  // socket's cgroup); test_memcontrol.c test_memcg_sock.
  // Negative control: booting with cgroup.memory=nosocket skips
  // (cmdline:cgroup.memory=nosocket); a kernel that did not charge buffers fails the growth.
  CKC_BEHAVIOUR("mem.sock-charged", "K",
                "data queued in the TCP buffers of a group's sockets is charged to that group: "
                "memory.stat sock grows while the data sits unread and falls once it is read");
  CKC_REQUIRE(Root(), MemoryV2("v1-has-no-memory.stat-sock"), SocketAccounting(),
              NamespaceType(NsType::kNet));
  ASSERT_OK_AND_ASSIGN(Cgroup cg, Cgroup::Create(Cgroups(), "sock", {"memory"}));
  ASSERT_OK_AND_ASSIGN(InGroup c, StartInNewNetns(cg, SocketChild));
  ASSERT_OK(c.ch.Expect("connected", 10s));
  ASSERT_OK_AND_ASSIGN(uint64_t s0, Sock(cg));
  ASSERT_OK(c.ch.Send("fill"));
  ASSERT_OK_AND_ASSIGN(std::string q, c.ch.Recv(20s));
  CKC_ASSERT_SETUP(q.starts_with("queued=")) << q;
  uint64_t queued = std::stoull(q.substr(7));
  ASSERT_OK_AND_ASSIGN(uint64_t s1, Sock(cg));
  ASSERT_OK(c.ch.Send("drain"));
  ASSERT_OK(c.ch.Expect("drained", 20s));
  ASSERT_OK_AND_ASSIGN(uint64_t s2, Sock(cg));
  ASSERT_OK(c.ch.Send("exit"));
  std::string seen = fmt::format("{} KiB queued unread; memory.stat sock {} -> {} -> {} KiB",
                                 queued / 1024, s0 / 1024, s1 / 1024, s2 / 1024);
  CKC_ASSERT_SETUP(queued >= kMiB) << seen;
  EXPECT_GE(s1, s0 + std::min<uint64_t>(queued / 4, kMiB)) << "charged while unread: " << seen;
  EXPECT_LE(s2, s0 + (s1 - std::min(s1, s0)) / 2) << "uncharged once read: " << seen;
  ASSERT_OK_AND_ASSIGN(ExitStatus st, c.child.Wait(10s));
  EXPECT_TRUE(st.Exited(0)) << st.Describe();
}

// --- mem.swap-events --------------------------------------------------------------------------

// Maps and touches 32 MiB in transparent huge pages and holds them until killed. A huge page is
// swapped out whole, charging 512 swap pages at once: the one swap-out that still meets the cap
// where the multi-generational LRU (lru_gen, on by default on newer Debian kernels) stops
// swapping small pages 64 pages short of memory.swap.max and so never has an allocation refused.
int HugePageChild(Channel& ch) {
  constexpr size_t kHuge = 2 * kMiB, kLen = 32 * kMiB;
  void* raw =
      ::mmap(nullptr, kLen + kHuge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return ReportErrno(ch, "setup: mmap", 2);
  char* p = reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(raw) + kHuge - 1) & ~(kHuge - 1));
  if (::madvise(p, kLen, MADV_HUGEPAGE) != 0) return ReportErrno(ch, "setup: madvise", 2);
  TouchPattern(p, kLen);
  (void)ch.Send("touched");
  for (;;) ::pause();
}

// AnonHugePages of /proc/PID/smaps_rollup.
Result<uint64_t> AnonHugeBytes(pid_t pid) {
  std::string path = fmt::format("/proc/{}/smaps_rollup", pid);
  CKC_TRY(text, ReadFile(path));
  auto at = text.find("AnonHugePages:");
  if (at == std::string::npos) return Failure("parse", path, "no AnonHugePages");
  return std::stoull(text.substr(at + 14)) * 1024;
}

TEST(MemoryV2, SwapMaxCapsAndCountsEvents) {
  // Source: cgroup-v2.rst memory.swap.current, memory.swap.max ("swap usage hard limit"),
  // memory.swap.events max ("the cgroup's swap usage was about to go over the max boundary and
  // swap allocation failed") and fail. memory.max is lowered under a group holding 32 MiB: to
  // 24M (it fits, with swap), then to 16M (it would need 16 MiB of swap, 15M is allowed).
  // Negative control: no swap skips (needs:swap), no THP skips (needs:thp); memory.swap.max at
  // max lets the group live at 16M (fail).
  CKC_BEHAVIOUR("mem.swap-events", "K",
                "a group swaps out at most memory.swap.max, memory.swap.current shows what it "
                "has in swap, and a swap-out refused at the cap counts in memory.swap.events max "
                "and fail, the group being OOM-killed instead");
  CKC_REQUIRE(Root(), MemoryV2("v1-has-no-memory.swap.events"), Swap(), Thp(),
              V2Knob("memory", "memory.swap.events"));
  ASSERT_OK_AND_ASSIGN(Cgroup cg, Cgroup::Create(Cgroups(), "swapev", {"memory"}));
  ASSERT_OK(cg.SetSwapMax(15 * kMiB));
  ASSERT_OK_AND_ASSIGN(InGroup c, StartIn(cg, HugePageChild));
  ASSERT_OK(c.ch.Expect("touched", 60s));
  // smaps, not memory.stat anon_thp: 5.10 keeps small stat deltas in per-CPU caches.
  ASSERT_OK_AND_ASSIGN(uint64_t huge, AnonHugeBytes(c.child.pid()));
  CKC_ASSERT_SETUP(huge >= 16 * kMiB) << "the child's 32 MiB are in huge pages: " << huge;
  using Keyed = std::map<std::string, uint64_t>;
  ASSERT_OK_AND_ASSIGN(Keyed e0, cg.ReadKeyed("memory", "memory.swap.events"));
  EXPECT_THAT(cg.SetMemoryMax(24 * kMiB), IsOk()) << "32 MiB fit in 24M of memory and swap";
  ASSERT_OK_AND_ASSIGN(uint64_t swapped, ReadU64(cg, "memory.swap.current"));
  ASSERT_OK_AND_ASSIGN(Keyed e1, cg.ReadKeyed("memory", "memory.swap.events"));
  ASSERT_OK_AND_ASSIGN(auto alive, c.child.TryWait(0ms));
  EXPECT_THAT(cg.SetMemoryMax(16 * kMiB), IsOk()) << "lowering memory.max ends in an OOM kill";
  ASSERT_OK_AND_ASSIGN(ExitStatus st, c.child.Wait(30s));
  ASSERT_OK_AND_ASSIGN(Keyed e2, cg.ReadKeyed("memory", "memory.swap.events"));
  std::string peak = cg.Read("memory", "memory.swap.peak").value_or("(no memory.swap.peak)\n");
  std::string seen = fmt::format(
      "at 24M: memory.swap.current {} KiB, swap.events max/fail {}/{} -> {}/{}; at 16M: {}/{}, "
      "memory.swap.peak {}",
      swapped / 1024, e0["max"], e0["fail"], e1["max"], e1["fail"], e2["max"], e2["fail"],
      peak.substr(0, peak.size() - 1));
  EXPECT_FALSE(alive.has_value()) << "the group lives at 24M: " << (alive ? alive->Describe() : "");
  EXPECT_TRUE(swapped >= 6 * kMiB && swapped <= 15 * kMiB)
      << "8 MiB or more swapped out, at most swap.max: " << seen;
  // Reclaim may overshoot at 24M and swap out up to the cap (seen once in three emulated
  // bookworm boots: 15 MiB swapped where 8 would do, 260 refusals): a refusal is then at the
  // cap, as documented. One below it, by more than a huge page, is counted for nothing.
  EXPECT_TRUE(e1["max"] + e1["fail"] == 0 || swapped + 2 * kMiB > 15 * kMiB)
      << "no refusal below the cap: " << seen;
  EXPECT_TRUE(st.KilledBy(SIGKILL)) << "16 MiB of swap needed, 15M allowed: " << st.Describe();
  EXPECT_GE(e2["max"], 1u) << "the refusal at swap.max: " << seen;
  EXPECT_GE(e2["fail"], 1u) << "a failed swap allocation: " << seen;
  if (auto p = ReadU64(cg, "memory.swap.peak")) {
    EXPECT_LE(*p, 15 * kMiB) << "swap use never went past the cap: " << seen;
  }
}

// --- mem.zswap-max ----------------------------------------------------------------------------

struct ZswapUse {
  uint64_t zswap = 0, swap = 0;
};

// A group with memory.max 16M whose child touches 32 MiB and holds it; what went where.
Result<ZswapUse> PushOut(const Cgroup& cg) {
  CKC_CHECK(cg.SetMemoryMax(16 * kMiB));
  CKC_TRY(c, StartToucher(cg, 32 * kMiB));
  CKC_CHECK(c.ch.Expect("ready", 10s));
  CKC_CHECK(c.ch.Send("go"));
  CKC_TRY(t, AwaitTouch(c, 60s));
  (void)t;
  CKC_TRY(z, ReadU64(cg, "memory.zswap.current"));
  CKC_TRY(s, ReadU64(cg, "memory.swap.current"));
  CKC_CHECK(FinishToucher(c));
  return ZswapUse{z, s};
}

TEST(MemoryV2, ZswapMaxZeroKeepsGroupOutOfZswap) {
  // Source: cgroup-v2.rst memory.zswap.current, memory.zswap.max ("zswap usage hard limit. If a
  // cgroup's zswap pool reaches this limit, it will refuse to take any more stores before
  // existing entries fault back in or are written out to disk"); admin-guide/mm/zswap.rst.
  // Negative control: zswap off skips (needs:zswap), no CONFIG_ZSWAP skips (config:CONFIG_ZSWAP);
  // memory.zswap.max left at max puts the first group's pages in zswap (fail).
  CKC_BEHAVIOUR("mem.zswap-max", "K",
                "with memory.zswap.max 0 a group's swapped pages bypass zswap and go to the swap "
                "device, while a sibling without the limit has its pages compressed in zswap");
  CKC_REQUIRE(Root(), MemoryV2("v1-has-no-memory.zswap.max"), Swap(), Zswap(),
              V2Knob("memory", "memory.zswap.max"));
  ASSERT_OK_AND_ASSIGN(Cgroup off, Cgroup::Create(Cgroups(), "zswap-off", {"memory"}));
  ASSERT_OK_AND_ASSIGN(Cgroup on, Cgroup::Create(Cgroups(), "zswap-on", {"memory"}));
  ASSERT_OK(off.Write("memory", "memory.zswap.max", "0"));
  ASSERT_OK_AND_ASSIGN(ZswapUse a, PushOut(off));
  ASSERT_OK_AND_ASSIGN(ZswapUse b, PushOut(on));
  std::string seen = fmt::format(
      "zswap.max 0: zswap {} KiB, swap {} KiB; zswap.max max: zswap {} KiB, swap {} KiB",
      a.zswap / 1024, a.swap / 1024, b.zswap / 1024, b.swap / 1024);
  CKC_ASSERT_SETUP(std::min(a.swap, b.swap) >= 8 * kMiB) << "32 MiB under 16M must swap: " << seen;
  EXPECT_EQ(a.zswap, 0u) << "memory.zswap.max 0 keeps the group out of zswap: " << seen;
  EXPECT_GT(b.zswap, 0u) << "the sibling without the limit uses zswap: " << seen;
}

}  // namespace
}  // namespace ckc::test

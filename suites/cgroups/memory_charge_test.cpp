// Rows mem.*: OOM notification and where charges go (D "Avoiding the OOM killer", "Overhead of
// the memory cgroup"; cgroup-v1/memory.rst 10, 11; cgroup-v2.rst "Memory Interface Files").
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <vector>

#include "cg_suite.h"
#include "loopdev.h"
#include "mounts.h"

namespace ckc::test {
namespace {

TEST(Memory, OomDisableFreezes) {
  // Source: D "Avoiding the OOM killer" (oom-notifier: processes frozen, notification sent,
  // limits raised, unfrozen); cgroup-v1/memory.rst 10 "OOM Control" and 9 cgroup.event_control.
  // Negative control: on v2 it skips cgroup-mode:v2-has-no-oom_kill_disable; a kernel ignoring
  // oom_kill_disable OOM-kills the child (oom_kill 1, not held): it fails. No memsw needed.
  CKC_BEHAVIOUR("mem.oom-disable-freezes", "D",
                "v1: with oom_kill_disable=1 a group that hits its limit is paused rather than "
                "OOM-killed, an eventfd listening on memory.oom_control (set up via "
                "cgroup.event_control) is signalled, and a higher limit lets it continue");
  CKC_REQUIRE(Root(), ServedByCgroupVersion("memory", 1, "v2-has-no-oom_kill_disable"));
  ASSERT_OK_AND_ASSIGN(Cgroup cg, Cgroup::Create(Cgroups(), "oomfreeze", {"memory"}));
  ASSERT_OK(LimitMemoryNoSwap(cg, 8 * kMiB));
  ASSERT_OK_AND_ASSIGN(UniqueFd efd, cg.OomNotifier(/*disable_kill=*/true));
  ASSERT_OK_AND_ASSIGN(InGroup c, StartIn(cg, [](Channel& ch) {
                         if (!TouchAnon(16 * kMiB)) return ReportErrno(ch, "mmap");
                         return Report(ch, "allocated", 0);
                       }));
  pollfd p{efd.get(), POLLIN, 0};
  int n = ::poll(&p, 1, 20000);
  ASSERT_EQ(n, 1) << "the eventfd registered on memory.oom_control did not fire within 20 s";
  uint64_t count = 0;
  EXPECT_EQ(::read(efd.get(), &count, sizeof count), ssize_t(sizeof count));
  ASSERT_OK_AND_ASSIGN(MemoryEvents ev, cg.GetMemoryEvents());
  EXPECT_TRUE(ev.under_oom) << "memory.oom_control under_oom while the group is frozen";
  ASSERT_OK_AND_ASSIGN(auto still, c.child.TryWait(300ms));
  EXPECT_FALSE(still.has_value()) << "the child must be held, not killed: " << still->Describe();
  EXPECT_EQ(ev.oom_kill, 0u) << "nothing is killed with oom_kill_disable=1";
  ASSERT_OK(cg.SetMemoryMax(64 * kMiB));  // the kernel wakes the waiters on a limit change
  auto done = c.ch.Expect("allocated", 20s);
  EXPECT_TRUE(done.has_value()) << "after raising the limit the child runs on: "
                                << (done ? "" : done.error().Message());
  ASSERT_OK_AND_ASSIGN(ExitStatus st, c.child.Wait(10s));
  EXPECT_TRUE(st.Exited(0)) << st.Describe();
}

TEST(Memory, OomEventsNotify) {
  // Source: cgroup-v2.rst memory.events ("oom", "oom_kill"; a value change generates a file
  // modified event) — the v2 replacement of the oom-notifier.
  // Negative control: on v1 it skips cgroup-mode:v1-has-no-memory.events; a child that only stalls
  // is killed by Wait's timeout (not KilledBy) with oom_kill 0: it fails.
  CKC_BEHAVIOUR("mem.oom-events-notify", "K",
                "v2: an OOM in the group increments oom and oom_kill in memory.events, and the "
                "change wakes a poll() on that file");
  CKC_REQUIRE(Root(), ServedByCgroupVersion("memory", 2, "v1-has-no-memory.events"));
  ASSERT_OK_AND_ASSIGN(Cgroup cg, Cgroup::Create(Cgroups(), "oomevents", {"memory"}));
  ASSERT_OK(LimitMemoryNoSwap(cg, 8 * kMiB));
  ASSERT_OK_AND_ASSIGN(UniqueFd events, cg.OomNotifier(/*disable_kill=*/false));
  char buf[512];
  ASSERT_GE(::pread(events.get(), buf, sizeof buf, 0), 0);  // poll reports changes after a read
  ASSERT_OK_AND_ASSIGN(Child child, SpawnIn(cg, []() -> int { AllocateForever(); }));
  pollfd p{events.get(), POLLPRI, 0};
  int n = ::poll(&p, 1, 20000);
  EXPECT_EQ(n, 1) << "memory.events did not signal POLLPRI within 20 s";
  EXPECT_TRUE(p.revents & (POLLPRI | POLLERR)) << "revents " << p.revents;
  ASSERT_OK_AND_ASSIGN(ExitStatus st, child.Wait(30s));
  EXPECT_TRUE(st.KilledBy(SIGKILL)) << st.Describe();
  ASSERT_OK_AND_ASSIGN(MemoryEvents ev, cg.GetMemoryEvents());
  EXPECT_GE(ev.oom, 1u) << "memory.events oom";
  EXPECT_GE(ev.oom_kill, 1u) << "memory.events oom_kill";
}

TEST(Memory, OomGroup) {
  // Source: cgroup-v2.rst memory.oom.group ("the cgroup and its descendants are killed together
  // or not at all").
  // Negative control: with memory.oom.group 0 (the default) only the allocator dies: the sleeper
  // stays, oom_kill is 1 and oom_group_kill 0, so it fails; on v1 it skips.
  CKC_BEHAVIOUR("mem.oom-group", "K",
                "v2: with memory.oom.group=1 an OOM kill takes out all processes of the group "
                "together, not only the one using the most memory");
  CKC_REQUIRE(Root(), ServedByCgroupVersion("memory", 2, "v1-has-no-memory.oom.group"));
  ASSERT_OK_AND_ASSIGN(Cgroup cg, Cgroup::Create(Cgroups(), "oomgroup", {"memory"}));
  ASSERT_OK(LimitMemoryNoSwap(cg, 16 * kMiB));
  ASSERT_OK(cg.Write("memory", "memory.oom.group", "1"));
  ASSERT_OK_AND_ASSIGN(InGroup c, StartIn(cg, [](Channel& ch) {
                         pid_t sleeper = ::fork();  // small, never the OOM victim by size
                         if (sleeper == 0) {
                           ::pause();
                           ::_exit(0);
                         }
                         if (sleeper < 0) return ReportErrno(ch, "fork");
                         (void)ch.Send(std::to_string(sleeper));
                         if (!ch.Expect("go").has_value()) return 1;
                         AllocateForever();
                       }));
  ASSERT_OK_AND_ASSIGN(std::string sleeper, c.ch.Recv(10s));
  ASSERT_OK(c.ch.Send("go"));
  ASSERT_OK_AND_ASSIGN(ExitStatus st, c.child.Wait(30s));
  // Not a timeout: Wait's own kill would take the sleeper too (the child's process group).
  EXPECT_TRUE(st.KilledBy(SIGKILL)) << st.Describe();
  EXPECT_TRUE(Eventually(
      [&] {
        auto p = cg.Procs("memory");
        return p && p->empty();
      },
      5s))
      << "the sleeper " << sleeper << " must die with the allocating process (memory.oom.group=1)";
  // The kernel's own count: every process of the group killed by the OOM killer (two), and one
  // group kill where the kernel counts those (oom_group_kill, 5.17+).
  ASSERT_OK_AND_ASSIGN(auto events, cg.ReadKeyed("memory", "memory.events"));
  EXPECT_GE(events["oom_kill"], 2u) << "memory.events oom_kill: the allocator and the sleeper";
  if (events.contains("oom_group_kill")) {
    EXPECT_GE(events["oom_group_kill"], 1u) << "memory.events oom_group_kill";
  }
}

TEST(Memory, SharedPageFirstCharge) {
  // Source: D "Overhead of the memory cgroup" ("only the first group gets charged");
  // cgroup-v2.rst "Memory Ownership": a page is charged to the cgroup that instantiated it.
  // Negative control: booted with cgroup_disable=memory it skips; a kernel that charged each
  // reader (a second charge for the same page) fails the second group's expectation.
  CKC_BEHAVIOUR("mem.shared-page-first-charge", "D",
                "a page-cache page is charged to the group that first read it in, and a second "
                "group reading the same page later is not charged for it");
  CKC_REQUIRE(Root(), Controller("memory"));
  ASSERT_OK_AND_ASSIGN(LoopDevice loop, LoopDevice::Create(TestDir() + "/disk.img", 64 * kMiB));
  ASSERT_OK_AND_ASSIGN(Cgroup a, Cgroup::Create(Cgroups(), "first", {"memory"}));
  ASSERT_OK_AND_ASSIGN(Cgroup b, Cgroup::Create(Cgroups(), "second", {"memory"}));
  auto reader = [&](Channel& ch) {
    if (int err = ReadThroughCache(loop.path(), 16 * kMiB, 16 * kMiB))
      return Report(ch, ErrnoName(err));
    return 0;
  };
  ASSERT_OK_AND_ASSIGN(ChildResult ra, RunIn(a, reader));
  ASSERT_TRUE(ra.status.Exited(0)) << ra.Describe();
  ASSERT_OK_AND_ASSIGN(MemoryStat a1, a.MemoryStats());
  ASSERT_OK_AND_ASSIGN(MemoryStat b0, b.MemoryStats());
  ASSERT_OK_AND_ASSIGN(ChildResult rb, RunIn(b, reader));
  ASSERT_TRUE(rb.status.Exited(0)) << rb.Describe();
  ASSERT_OK_AND_ASSIGN(MemoryStat a2, a.MemoryStats());
  ASSERT_OK_AND_ASSIGN(MemoryStat b1, b.MemoryStats());
  EXPECT_GE(a1.file, 14 * kMiB) << "the first reader's group is charged for the 16 MiB it read";
  EXPECT_LT(Grew(b0.file, b1.file), int64_t(2 * kMiB))
      << "the second reader's group is not charged again: " << b0.file << " -> " << b1.file;
  EXPECT_GE(a2.file, 14 * kMiB) << "the charge stays with the first group: " << a1.file << " -> "
                                << a2.file;
}

TEST(Memory, ChargeStaysAfterMove) {
  // Source: cgroup-v2.rst "Memory Ownership" ("migrating a process to a different cgroup doesn't
  // move the memory usages that it instantiated while in the previous cgroup"); cgroup-v1
  // memory.rst 8 (move_charge_at_immigrate defaults to 0).
  // Negative control: booted with cgroup_disable=memory it skips; on v1 with the target group's
  // memory.move_charge_at_immigrate set to 1 the charge moves with the process and it fails.
  CKC_BEHAVIOUR("mem.charge-stays-after-move", "K",
                "memory charged while a process was in one group stays with that group after the "
                "process moves to another one");
  CKC_REQUIRE(Root(), Controller("memory"));
  ASSERT_OK_AND_ASSIGN(Cgroup a, Cgroup::Create(Cgroups(), "from", {"memory"}));
  ASSERT_OK_AND_ASSIGN(Cgroup b, Cgroup::Create(Cgroups(), "to", {"memory"}));
  ASSERT_OK_AND_ASSIGN(InGroup c, StartIn(a, [](Channel& ch) {
                         if (!TouchAnon(32 * kMiB)) return ReportErrno(ch, "mmap");
                         (void)ch.Send("touched");
                         return ch.Expect("exit").has_value() ? 0 : 1;
                       }));
  ASSERT_OK(c.ch.Expect("touched", 20s));
  ASSERT_OK(b.Attach(c.child.pid()));
  ASSERT_OK_AND_ASSIGN(uint64_t ua, a.MemoryCurrent());
  ASSERT_OK_AND_ASSIGN(uint64_t ub, b.MemoryCurrent());
  ASSERT_OK(c.ch.Send("exit"));
  EXPECT_GE(ua, 30 * kMiB) << "the old group keeps the 32 MiB charged before the move";
  EXPECT_LT(ub, 4 * kMiB) << "the new group is not charged for pages made before the move";
  ASSERT_OK_AND_ASSIGN(ExitStatus st, c.child.Wait(10s));
  EXPECT_TRUE(st.Exited(0)) << st.Describe();
}

// Kernel memory of the group: v2 memory.stat slab (+ kernel); v1 memory.kmem.usage_in_bytes.
Result<uint64_t> KernelMemory(const Cgroup& cg) {
  CKC_TRY(v, cg.version("memory"));
  if (v == CgroupVersion::kV1) {
    CKC_TRY(text, cg.Read("memory", "memory.kmem.usage_in_bytes"));
    return std::stoull(text);
  }
  CKC_TRY(stat, cg.MemoryStats());
  if (stat.raw.contains("slab")) return stat.raw["slab"];
  return stat.raw["slab_reclaimable"] + stat.raw["slab_unreclaimable"];  // before "slab" existed
}

TEST(Memory, KmemAccounted) {
  // Source: D "Memory cgroup: limits" (kernel memory); cgroup-v2.rst memory.stat slab
  // ("kernel memory ... such as dentries and inodes"); cgroup-v1/memory.rst 2.7.
  // Negative control: booted with cgroup.memory=nokmem it skips cmdline:cgroup.memory=nokmem
  // (kernel memory then stays uncharged); cgroup.memory=nosocket does not skip it.
  CKC_BEHAVIOUR("mem.kmem-accounted", "D",
                "kernel objects allocated for a group's processes, such as the inodes and dentries "
                "of files they create, are charged to that group");
  CKC_REQUIRE(Root(), Controller("memory"), KmemAccounting());
  ASSERT_OK_AND_ASSIGN(Cgroup cg, Cgroup::Create(Cgroups(), "kmem", {"memory"}));
  std::string dir = TestDir() + "/files";
  ASSERT_OK(MakeDirs(dir, 0755));
  ASSERT_OK_AND_ASSIGN(InGroup c, StartIn(cg, [&](Channel& ch) {
                         (void)ch.Send("start");
                         if (!ch.Expect("go").has_value()) return 1;
                         // Empty files: an inode and a dentry each, both from SLAB_ACCOUNT caches,
                         // no data pages. (Negative dentries would not do: tmpfs, where a VM's run
                         // directory lives, drops them.)
                         for (int i = 0; i < 5000; ++i) {
                           int fd = ::open(fmt::format("{}/f{}", dir, i).c_str(),
                                           O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
                           if (fd < 0) return ReportErrno(ch, "open");
                           ::close(fd);
                         }
                         (void)ch.Send("done");
                         if (!ch.Expect("exit").has_value()) return 1;
                         for (int i = 0; i < 5000; ++i)
                           ::unlink(fmt::format("{}/f{}", dir, i).c_str());
                         return 0;
                       }));
  ASSERT_OK(c.ch.Expect("start", 10s));
  ASSERT_OK_AND_ASSIGN(uint64_t before, KernelMemory(cg));
  ASSERT_OK(c.ch.Send("go"));
  ASSERT_OK(c.ch.Expect("done", 30s));
  ASSERT_OK_AND_ASSIGN(uint64_t after, KernelMemory(cg));
  ASSERT_OK(c.ch.Send("exit"));
  EXPECT_GE(Grew(before, after), int64_t(2 * kMiB))
      << "5000 new files (an inode of ~0.7-1 KiB and a dentry each) charged as kernel memory: "
      << before << " -> " << after;
  ASSERT_OK_AND_ASSIGN(ExitStatus st, c.child.Wait(10s));
  EXPECT_TRUE(st.Exited(0)) << st.Describe();
}

}  // namespace
}  // namespace ckc::test

// Rows cg.kill ... cg.open-time-creds: the cgroup v2 core (cgroup-v2.rst "Basic Operations" and
// "Core Interface Files"). The core files exist in any cgroup2 hierarchy, also one without
// controllers, so on a hybrid host these rows run in plain groups of /sys/fs/cgroup/unified.
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <algorithm>
#include <atomic>
#include <thread>

#include "cg_suite.h"
#include "cgroup_core.h"
#include "inet.h"
#include "netlink.h"
#include "userns.h"

namespace ckc::test {
namespace {

// kernel:<file> unless the non-root group at `dir` has the core file.
Requirement CoreFile(std::string dir, std::string file) {
  return {[=]() -> std::optional<std::string> {
    if (HasCoreFile(dir, file)) return std::nullopt;
    return fmt::format("kernel:{} (no {} in the cgroup2 group {})", file, file, dir);
  }};
}

Requirement CloneIntoCgroup() {
  return {[]() -> std::optional<std::string> {
    auto ok = CloneIntoCgroupSupported();
    if (ok && *ok) return std::nullopt;
    if (!ok) return "setup:clone3-probe (" + ok.error().Message() + ")";
    return "kernel:clone3-into-cgroup (clone3 refuses CLONE_INTO_CGROUP)";
  }};
}

// Waits for the channel to stay silent for `quiet` (a frozen child cannot answer); true if it did.
bool Silent(Channel& ch, std::chrono::milliseconds quiet, std::string* got) {
  auto msg = ch.Recv(quiet);
  if (msg) *got = *msg;
  return !msg && msg.error().err == ETIMEDOUT;
}

// A child that answers each "ping" with "pong" until "exit".
int PingPong(Channel& ch) {
  for (;;) {
    auto msg = ch.Recv(std::chrono::seconds(60));
    if (!msg) return 1;
    if (*msg == "exit") return 0;
    if (!ch.Send("pong")) return 1;
  }
}

int WaitForExit(Channel& ch) { return ch.Expect("exit", std::chrono::seconds(60)) ? 0 : 1; }

// A walker forks its successor and exits, so at any moment one of its forks is under way.
[[noreturn]] void Walk() {
  for (;;) {
    if (::fork() > 0) ::_exit(0);  // the successor carries on (a failed fork simply retries)
  }
}

// Starts `walkers` walkers and, as their subreaper, reaps the exited ones, counting them.
int RunWalkers(Channel& ch, std::atomic<uint64_t>* reaped, int walkers) {
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) return ReportErrno(ch, "prctl");
  for (int i = 0; i < walkers; ++i) {
    pid_t pid = ::fork();
    if (pid < 0) return ReportErrno(ch, "fork");
    if (pid == 0) Walk();
  }
  (void)ch.Send("walking");
  for (;;) {
    if (::waitpid(-1, nullptr, 0) > 0) reaped->fetch_add(1);
  }
}

TEST(CgroupCore, KillEndsSubtreeIncludingForks) {
  // Source: cgroup-v2.rst "Core Interface Files" cgroup.kill ("Killing a cgroup tree will deal
  // with concurrent forks appropriately"); tools/testing/selftests/cgroup/test_kill.c.
  // Negative control: a kernel without cgroup.kill skips kernel:cgroup.kill; a kill that missed a
  // racing fork leaves a walker behind, the subtree stays populated and the row fails.
  CKC_BEHAVIOUR("cg.kill", "K",
                "one write of 1 to cgroup.kill SIGKILLs every process in the group and its "
                "descendants, including children forked while the kill is in progress, after "
                "which cgroup.events reports populated 0",
                "5.14");
  CKC_REQUIRE(Root(), Cgroup2Mounted());
  ASSERT_OK_AND_ASSIGN(Cgroup top, Cgroup::Create(Cgroups(), "kill", {}));
  ASSERT_OK_AND_ASSIGN(Cgroup deep, Cgroup::Create(Cgroups(), "kill/a/b", {}));
  const std::string dir = DirOf(top);
  CKC_REQUIRE(CoreFile(dir, "cgroup.kill"));
  SharedCounter reaped;
  CKC_ASSERT_SETUP(reaped.value != nullptr) << "mmap of a shared counter";
  auto walkers = [&](Channel& ch) { return RunWalkers(ch, reaped.value, 1); };
  ASSERT_OK_AND_ASSIGN(InGroup near, StartIn(top, walkers));
  ASSERT_OK_AND_ASSIGN(InGroup far, StartIn(deep, walkers));
  ASSERT_OK(near.ch.Expect("walking", 10s));
  ASSERT_OK(far.ch.Expect("walking", 10s));
  CKC_ASSERT_SETUP(Eventually([&] { return reaped.value->load() >= 6; }, 10s))
      << "the walkers do not fork (" << reaped.value->load() << " reaped)";
  ASSERT_OK_AND_ASSIGN(EventsWatch events, EventsWatch::Open(dir));
  uint64_t forks_before = reaped.value->load();
  ASSERT_THAT(KillGroup(dir), IsOk());
  ASSERT_OK_AND_ASSIGN(CgroupEvents after,
                       events.WaitFor([](const CgroupEvents& e) { return !e.populated; }, 2s));
  auto left = ReadIds(DirOf(deep), "cgroup.procs");
  EXPECT_FALSE(after.populated) << "the subtree still has live processes 2 s after cgroup.kill "
                                << "(walkers had forked " << forks_before << " times; left in "
                                << "a/b: " << (left ? left->size() : 0) << ")";
  for (InGroup* c : {&near, &far}) {
    ASSERT_OK_AND_ASSIGN(ExitStatus st, c->child.Wait(2s));
    EXPECT_TRUE(st.KilledBy(SIGKILL) && !st.timed_out)
        << "a member of the subtree: " << st.Describe();
  }
}

TEST(CgroupCore, EventsPopulatedNotifies) {
  // Source: cgroup-v2.rst "[Un]populated Notification" ("poll and [id]notify events are
  // triggered when the value changes ... recursive"); selftests test_core.c
  // test_cgcore_populated.
  // Negative control: a group with no process reads populated 0 from the start (the sibling), and
  // no notification is pending before the last member leaves.
  CKC_BEHAVIOUR("cg.events-populated", "K",
                "when the last live process of a subtree goes away, populated in cgroup.events "
                "drops from 1 to 0 in its group and in every ancestor, and both poll() "
                "(POLLPRI) and inotify (IN_MODIFY) waiters on those files are woken");
  CKC_REQUIRE(Root(), Cgroup2Mounted());
  ASSERT_OK_AND_ASSIGN(Cgroup parent, Cgroup::Create(Cgroups(), "populated", {}));
  ASSERT_OK_AND_ASSIGN(Cgroup leaf, Cgroup::Create(Cgroups(), "populated/leaf", {}));
  ASSERT_OK_AND_ASSIGN(Cgroup empty, Cgroup::Create(Cgroups(), "populated/empty", {}));
  CKC_REQUIRE(CoreFile(DirOf(leaf), "cgroup.events"));
  ASSERT_OK_AND_ASSIGN(InGroup c, StartIn(leaf, WaitForExit));
  std::vector<std::string> dirs = {DirOf(leaf), DirOf(parent)};
  std::vector<EventsWatch> polls;
  std::vector<ModifyWatch> inotify;
  for (const auto& d : dirs) {
    ASSERT_OK_AND_ASSIGN(EventsWatch w, EventsWatch::Open(d));
    ASSERT_OK_AND_ASSIGN(ModifyWatch m, ModifyWatch::Create(d + "/cgroup.events"));
    ASSERT_OK_AND_ASSIGN(CgroupEvents ev, w.Read());
    EXPECT_TRUE(ev.populated) << d << " with a live process below it";
    ASSERT_OK_AND_ASSIGN(bool early, w.WaitModified(0ms));
    EXPECT_FALSE(early) << d << ": a notification before anything changed";
    polls.push_back(std::move(w));
    inotify.push_back(std::move(m));
  }
  ASSERT_OK_AND_ASSIGN(CgroupEvents sibling, ReadCgroupEvents(DirOf(empty)));
  EXPECT_FALSE(sibling.populated) << "a sibling group that never had a process";
  ASSERT_OK(c.ch.Send("exit"));
  ASSERT_OK_AND_ASSIGN(ExitStatus st, c.child.Wait(10s));
  ASSERT_TRUE(st.Exited(0)) << st.Describe();
  for (size_t i = 0; i < dirs.size(); ++i) {
    ASSERT_OK_AND_ASSIGN(bool polled, polls[i].WaitModified(2s));
    EXPECT_TRUE(polled) << dirs[i] << ": poll(POLLPRI) did not wake when the last process left";
    ASSERT_OK_AND_ASSIGN(bool modified, inotify[i].Wait(2s));
    EXPECT_TRUE(modified) << dirs[i] << ": no IN_MODIFY when the last process left";
    ASSERT_OK_AND_ASSIGN(CgroupEvents ev, polls[i].Read());
    EXPECT_FALSE(ev.populated) << dirs[i] << " after the last process left";
  }
}

// Sends "ping" to each child; true if none answers within `quiet` (they are frozen).
bool AllSilent(std::vector<InGroup*> children, std::chrono::milliseconds quiet, std::string* got) {
  for (InGroup* c : children) {
    if (!c->ch.Send("ping")) return false;
  }
  std::this_thread::sleep_for(quiet);  // one window for all of them
  bool silent = true;
  for (InGroup* c : children) silent = Silent(c->ch, 1ms, got) && silent;
  return silent;
}

TEST(CgroupCore, FreezeTree) {
  // Source: cgroup-v2.rst "Core Interface Files" cgroup.freeze ("freezing of the cgroup and all
  // descendant cgroups"; "If a process is moved to a frozen cgroup, it stops. If a process is
  // moved out of a frozen cgroup, it becomes running") and cgroup.events "frozen";
  // selftests test_freezer.c (mkdir under a frozen parent, migration).
  // Negative control: a kernel without the v2 freezer skips kernel:cgroup.freeze; each frozen
  // child is pinged first and must answer while thawed.
  CKC_BEHAVIOUR("cg.freeze-tree", "K",
                "writing 1 to cgroup.freeze stops every process of the subtree and cgroup.events "
                "then reads frozen 1 with a file-modified notification; a group created under the "
                "frozen group starts frozen, a process moved in stops and a process moved out "
                "runs again",
                "5.2");
  CKC_REQUIRE(Root(), Cgroup2Mounted());
  ASSERT_OK_AND_ASSIGN(Cgroup top, Cgroup::Create(Cgroups(), "freeze", {}));
  ASSERT_OK_AND_ASSIGN(Cgroup sub, Cgroup::Create(Cgroups(), "freeze/sub", {}));
  ASSERT_OK_AND_ASSIGN(Cgroup outside, Cgroup::Create(Cgroups(), "freeze-outside", {}));
  const std::string dir = DirOf(top);
  CKC_REQUIRE(CoreFile(dir, "cgroup.freeze"));
  ASSERT_OK_AND_ASSIGN(InGroup in_top, StartIn(top, PingPong));
  ASSERT_OK_AND_ASSIGN(InGroup in_sub, StartIn(sub, PingPong));
  ASSERT_OK_AND_ASSIGN(InGroup mover, StartIn(outside, PingPong));
  for (InGroup* c : {&in_top, &in_sub, &mover}) {
    ASSERT_OK(c->ch.Send("ping"));
    ASSERT_OK(c->ch.Expect("pong", 10s));
  }
  ASSERT_OK_AND_ASSIGN(EventsWatch events, EventsWatch::Open(dir));
  ASSERT_THAT(FreezeGroup(dir, true), IsOk());
  ASSERT_OK_AND_ASSIGN(bool notified, events.WaitModified(2s));
  EXPECT_TRUE(notified)
      << "no file-modified notification (POLLPRI) on cgroup.events after freezing";
  auto frozen = [](const CgroupEvents& e) { return e.frozen; };
  ASSERT_OK_AND_ASSIGN(CgroupEvents ev, events.WaitFor(frozen, 2s));
  EXPECT_TRUE(ev.frozen) << "cgroup.events of the frozen group";
  // The kernel may set the top's frozen 1 once its own tasks have stopped, a moment before those
  // of a descendant group have: recorded, and the subtree must follow.
  auto sub_at_once = ReadCgroupEvents(DirOf(sub));
  RecordProperty("top_frozen_before_subtree", sub_at_once && !sub_at_once->frozen ? "seen" : "no");
  ASSERT_OK_AND_ASSIGN(EventsWatch sub_events, EventsWatch::Open(DirOf(sub)));
  ASSERT_OK_AND_ASSIGN(CgroupEvents sub_ev, sub_events.WaitFor(frozen, 2s));
  EXPECT_TRUE(sub_ev.frozen) << "a descendant group of the frozen group";
  std::string got;
  EXPECT_TRUE(AllSilent({&in_top, &in_sub}, 150ms, &got)) << "a frozen process answered: " << got;
  // A group made under the frozen one is frozen from the start.
  ASSERT_OK_AND_ASSIGN(Cgroup late, Cgroup::Create(Cgroups(), "freeze/late", {}));
  ASSERT_OK_AND_ASSIGN(CgroupEvents late_ev, ReadCgroupEvents(DirOf(late)));
  EXPECT_TRUE(late_ev.frozen) << "a group created under the frozen group";
  // A process moved in stops; one moved out runs (its pending ping is answered).
  ASSERT_THAT(MoveProcess(DirOf(late), mover.child.pid()), IsOk()) << "into the frozen subtree";
  EXPECT_TRUE(AllSilent({&mover}, 150ms, &got)) << "a process moved into the frozen subtree ran";
  ASSERT_THAT(MoveProcess(DirOf(outside), in_sub.child.pid()), IsOk()) << "out of it";
  EXPECT_THAT(in_sub.ch.Expect("pong", 2s), IsOk()) << "a process moved out of the frozen subtree";
  ASSERT_THAT(FreezeGroup(dir, false), IsOk());
  EXPECT_THAT(in_top.ch.Expect("pong", 2s), IsOk()) << "after thawing";
  EXPECT_THAT(mover.ch.Expect("pong", 2s), IsOk()) << "after thawing";
  for (InGroup* c : {&in_top, &in_sub, &mover}) ASSERT_OK(c->ch.Send("exit"));
}

TEST(CgroupCore, CloneIntoCgroup) {
  // Source: clone(2) CLONE_INTO_CGROUP ("spawn the child process into a different cgroup than
  // its parent"); cgroup-v2.rst cgroup.freeze (a process that races into a frozen cgroup is
  // frozen); selftests clone3 / test_freezer.c.
  // Negative control: a kernel without CLONE_INTO_CGROUP skips kernel:clone3-into-cgroup; the
  // frozen child must send its first message once the group is thawed.
  CKC_BEHAVIOUR("cg.clone-into-cgroup", "K",
                "clone3() with CLONE_INTO_CGROUP creates the child directly in the cgroup given by "
                "directory fd, with no migration, and a child created in a frozen cgroup is frozen "
                "before it runs",
                "5.7");
  CKC_REQUIRE(Root(), Cgroup2Mounted(), CloneIntoCgroup());
  ASSERT_OK_AND_ASSIGN(Cgroup target, Cgroup::Create(Cgroups(), "clone-into", {}));
  ASSERT_OK_AND_ASSIGN(Cgroup frozen, Cgroup::Create(Cgroups(), "clone-into-frozen", {}));
  CKC_REQUIRE(CoreFile(DirOf(frozen), "cgroup.freeze"));
  // The child's first act is to read where it is: it was never anywhere else.
  auto spawn_into = [](const Cgroup& cg) -> Result<InGroup> {
    CKC_TRY(fd, cg.OpenV2Dir());
    CKC_TRY(ch, Channel::Create());
    CKC_TRY(child, Spawn({.cgroup_fd = fd.get()}, [&] {
              ch.BecomeChild();
              auto path = ProcCgroupPath(::getpid(), "");
              (void)ch.Send(path ? *path : "error: " + path.error().Message());
              return WaitForExit(ch);
            }));
    ch.BecomeParent();
    return InGroup{std::move(child), std::move(ch)};
  };
  auto self_before = ProcCgroupPath(::getpid(), "");
  ASSERT_OK_AND_ASSIGN(InGroup c, spawn_into(target));
  ASSERT_OK_AND_ASSIGN(std::string first, c.ch.Recv(10s));
  EXPECT_EQ(first, "/" + target.relative()) << "the child's cgroup at its first instruction";
  EXPECT_EQ(ProcCgroupPath(::getpid(), "").value_or("?"), self_before.value_or("!"))
      << "the parent stays where it was";
  ASSERT_OK(c.ch.Send("exit"));
  // Into a frozen group.
  const std::string fdir = DirOf(frozen);
  ASSERT_OK(FreezeGroup(fdir, true));
  ASSERT_OK_AND_ASSIGN(EventsWatch events, EventsWatch::Open(fdir));
  auto is_frozen = [](const CgroupEvents& e) { return e.frozen; };
  ASSERT_OK_AND_ASSIGN(CgroupEvents empty_ev, events.WaitFor(is_frozen, 2s));
  CKC_ASSERT_SETUP(empty_ev.frozen) << "the empty group does not read frozen 1";
  ASSERT_OK_AND_ASSIGN(InGroup f, spawn_into(frozen));
  std::string got;
  EXPECT_TRUE(Silent(f.ch, 150ms, &got)) << "a child cloned into a frozen group ran: " << got;
  ASSERT_OK_AND_ASSIGN(std::vector<pid_t> members, ReadIds(fdir, "cgroup.procs"));
  EXPECT_EQ(members, std::vector<pid_t>{f.child.pid()}) << "the frozen group's cgroup.procs";
  ASSERT_OK_AND_ASSIGN(CgroupEvents ev, events.WaitFor(is_frozen, 2s));
  EXPECT_TRUE(ev.frozen) << "the frozen group with its new child";
  ASSERT_OK(FreezeGroup(fdir, false));
  EXPECT_EQ(f.ch.Recv(5s).value_or("(nothing)"), "/" + frozen.relative())
      << "the child's first message once thawed";
  ASSERT_OK(f.ch.Send("exit"));
}

// A controller usable in the cgroup2 tree below the run parent: listed at the root (v2), or
// enabled in the root's subtree_control (hybrid: ckc never writes the host's root).
Result<std::string> UsableV2Controller(std::string* why) {
  CKC_TRY(mount, Cgroups().V2Mount());
  bool v2 = Cgroups().mode() == CgroupMode::kV2;
  CKC_TRY(listed, ListControllers(mount, "cgroup.controllers"));
  CKC_TRY(enabled, ListControllers(mount, "cgroup.subtree_control"));
  for (const char* c : {"pids", "memory", "cpu", "io", "hugetlb", "rdma", "misc", "cpuset"}) {
    const auto& usable = v2 ? listed : enabled;
    if (std::ranges::find(usable, c) != usable.end()) return std::string(c);
  }
  std::string mode(CgroupModeName(Cgroups().mode()));
  if (listed.empty()) {
    *why = fmt::format("cgroup-mode:{}-root-has-no-controller (the cgroup2 root {} lists none)",
                       mode, mount);
  } else {
    *why = fmt::format(
        "cgroup-mode:{}-root-lacks-{} (listed at the cgroup2 root {} but not "
        "enabled there; ckc does not change the host's root)",
        mode, listed.front(), mount);
  }
  return std::string();
}

Requirement V2ControllerBelowRoot() {
  return {[]() -> std::optional<std::string> {
    std::string why;
    auto c = UsableV2Controller(&why);
    if (!c) return "setup:cgroup2-root (" + c.error().Message() + ")";
    if (c->empty()) return why;
    return std::nullopt;
  }};
}

TEST(CgroupCore, TopDownConstraint) {
  // Source: cgroup-v2.rst "Top-down Constraint" ("A controller can be enabled only if the parent
  // has the controller enabled and a controller can't be disabled if one or more children have
  // it enabled"); selftests test_core.c test_cgcore_top_down_constraint_*.
  // Negative control: the same writes succeed once the parent enables (or the child disables)
  // the controller; a hybrid root that enables no controller skips cgroup-mode:....
  CKC_BEHAVIOUR("cg.top-down", "K",
                "a group cannot enable a controller in cgroup.subtree_control that its parent "
                "has not enabled (ENOENT), and the parent cannot disable a controller while a "
                "child still enables it (EBUSY)");
  CKC_REQUIRE(Root(), Cgroup2Mounted(), V2ControllerBelowRoot());
  std::string why;
  ASSERT_OK_AND_ASSIGN(std::string ctl, UsableV2Controller(&why));
  // The parent gets `ctl` from the run parent but does not pass it on yet.
  ASSERT_OK_AND_ASSIGN(Cgroup parent, Cgroup::Create(Cgroups(), "topdown", {ctl}));
  ASSERT_OK_AND_ASSIGN(Cgroup child, Cgroup::Create(Cgroups(), "topdown/child", {}));
  ASSERT_OK_AND_ASSIGN(const std::string pdir, parent.Dir(ctl));
  const std::string cdir = DirOf(child);
  EXPECT_THAT(WriteSubtreeControl(cdir, "+" + ctl), FailsWith(ENOENT))
      << "enabling " << ctl << " in a child whose parent has not enabled it";
  ASSERT_THAT(WriteSubtreeControl(pdir, "+" + ctl), IsOk()) << "the parent enables " << ctl;
  ASSERT_THAT(WriteSubtreeControl(cdir, "+" + ctl), IsOk()) << "now the child may enable it";
  EXPECT_THAT(WriteSubtreeControl(pdir, "-" + ctl), FailsWith(EBUSY))
      << "disabling " << ctl << " in the parent while the child enables it";
  ASSERT_THAT(WriteSubtreeControl(cdir, "-" + ctl), IsOk());
  EXPECT_THAT(WriteSubtreeControl(pdir, "-" + ctl), IsOk())
      << "disabling it in the parent once no child enables it";
}

// In a child: starts a second thread that blocks forever, and reports its tid.
int StartThreadAndWait(Channel& ch) {
  std::atomic<pid_t> tid{0};
  std::thread([&tid] {
    tid = ::gettid();
    for (;;) ::pause();
  }).detach();
  while (tid.load() == 0) std::this_thread::yield();
  (void)ch.Send(std::to_string(tid.load()));
  return WaitForExit(ch);
}

TEST(CgroupCore, ThreadedSubtree) {
  // Source: cgroup-v2.rst "Threads" and cgroup.type / cgroup.threads ("domain invalid ... can't
  // be populated"; "Operations which fail due to invalid topology use EOPNOTSUPP"); selftests
  // test_core.c test_cgcore_invalid_domain, test_cgcore_thread_migration.
  // Negative control: a kernel without thread mode skips kernel:cgroup.type; the main thread
  // must stay in the threaded domain while only the moved thread changes group.
  CKC_BEHAVIOUR("cg.threaded", "K",
                "writing threaded to a child's cgroup.type turns its parent into a domain "
                "threaded root, leaves a plain sibling domain invalid so that it refuses "
                "processes with EOPNOTSUPP, and lets single threads be moved through "
                "cgroup.threads",
                "4.14");
  CKC_REQUIRE(Root(), Cgroup2Mounted());
  ASSERT_OK_AND_ASSIGN(Cgroup root, Cgroup::Create(Cgroups(), "threaded", {}));
  ASSERT_OK_AND_ASSIGN(Cgroup threaded, Cgroup::Create(Cgroups(), "threaded/t", {}));
  ASSERT_OK_AND_ASSIGN(Cgroup sibling, Cgroup::Create(Cgroups(), "threaded/domain", {}));
  const std::string tdir = DirOf(threaded);
  CKC_REQUIRE(CoreFile(tdir, "cgroup.type"));
  ASSERT_THAT(MakeThreaded(tdir), IsOk());
  EXPECT_EQ(GroupType(tdir).value_or("?"), "threaded");
  EXPECT_EQ(GroupType(DirOf(root)).value_or("?"), "domain threaded") << "the parent";
  EXPECT_EQ(GroupType(DirOf(sibling)).value_or("?"), "domain invalid") << "the plain sibling";
  ASSERT_OK_AND_ASSIGN(InGroup c, StartIn(root, StartThreadAndWait));
  ASSERT_OK_AND_ASSIGN(std::string tid_text, c.ch.Recv(10s));
  pid_t pid = c.child.pid(), tid = static_cast<pid_t>(std::stol(tid_text));
  EXPECT_THAT(MoveProcess(DirOf(sibling), pid), FailsWith(EOPNOTSUPP))
      << "a process into the domain invalid sibling";
  EXPECT_THAT(MoveThread(tdir, tid), IsOk()) << "one thread into the threaded group";
  EXPECT_EQ(ProcCgroupPath(tid, "").value_or("?"), "/" + threaded.relative()) << "moved thread";
  EXPECT_EQ(ProcCgroupPath(pid, "").value_or("?"), "/" + root.relative()) << "main thread";
  EXPECT_EQ(ReadIds(tdir, "cgroup.threads").value_or(std::vector<pid_t>{}), std::vector<pid_t>{tid})
      << "cgroup.threads of the threaded group";
  ASSERT_OK(c.ch.Send("exit"));
}

TEST(CgroupCore, MaxDepthAndDescendants) {
  // Source: cgroup-v2.rst cgroup.max.depth, cgroup.max.descendants ("an attempt to create a new
  // cgroup in the hierarchy will fail"); kernel/cgroup/cgroup.c cgroup_mkdir returns EAGAIN.
  // Negative control: mkdir below the limit succeeds in the same groups.
  CKC_BEHAVIOUR("cg.max-depth-descendants", "K",
                "with cgroup.max.depth or cgroup.max.descendants set, a mkdir that would go "
                "deeper or create more descendant groups than allowed fails with EAGAIN");
  CKC_REQUIRE(Root(), Cgroup2Mounted());
  ASSERT_OK_AND_ASSIGN(Cgroup depth, Cgroup::Create(Cgroups(), "maxdepth", {}));
  ASSERT_OK_AND_ASSIGN(Cgroup count, Cgroup::Create(Cgroups(), "maxdesc", {}));
  const std::string d = DirOf(depth), n = DirOf(count);
  CKC_REQUIRE(CoreFile(d, "cgroup.max.depth"), CoreFile(n, "cgroup.max.descendants"));
  ASSERT_THAT(SetMaxDepth(d, 1), IsOk());
  EXPECT_THAT(::mkdir((d + "/a").c_str(), 0755), SyscallSucceeds()) << "depth 1";
  EXPECT_THAT(::mkdir((d + "/a/b").c_str(), 0755), SyscallFailsWith(EAGAIN))
      << "depth 2 under cgroup.max.depth=1";
  ASSERT_THAT(SetMaxDescendants(n, 2), IsOk());
  EXPECT_THAT(::mkdir((n + "/a").c_str(), 0755), SyscallSucceeds()) << "descendant 1";
  EXPECT_THAT(::mkdir((n + "/a/b").c_str(), 0755), SyscallSucceeds()) << "descendant 2";
  EXPECT_THAT(::mkdir((n + "/c").c_str(), 0755), SyscallFailsWith(EAGAIN))
      << "a third descendant under cgroup.max.descendants=2";
  EXPECT_THAT(::mkdir((n + "/a/c").c_str(), 0755), SyscallFailsWith(EAGAIN))
      << "a third descendant, one level down";
}

// In a child in a net namespace of its own: a loopback TCP connection with data left unread, so
// socket memory is charged to the child's group; both ends are handed to the parent, and they
// outlive the child.
int HandOverChargedSockets(Channel& ch) {
  CKC_CHILD_TRY(nl, NetlinkSocket::Open());
  CKC_CHILD_CHECK(nl.SetUp("lo"));
  CKC_CHILD_TRY(listener, TcpListen("127.0.0.1"));
  CKC_CHILD_TRY(port, LocalPort(listener.get()));
  CKC_CHILD_TRY(client, TcpConnect("127.0.0.1", port, 5s));
  CKC_CHILD_TRY(server, Accept(listener.get(), 5s));
  std::string data(256 * 1024, 'x');
  if (::send(server.get(), data.data(), data.size(), MSG_DONTWAIT) <= 0)
    return ReportErrno(ch, "send");
  CKC_CHILD_CHECK(ch.SendFd(client.get(), "client"));
  CKC_CHILD_CHECK(ch.SendFd(server.get(), "server"));
  return 0;
}

TEST(CgroupCore, StatCountsDescendants) {
  // Source: cgroup-v2.rst cgroup.stat nr_descendants, nr_dying_descendants ("A dying cgroup can
  // consume system resources not exceeding limits, which were active at the moment of cgroup
  // deletion").
  // Negative control: nr_descendants drops when a group is removed, and a dying group is not
  // counted there; without memory on v2 the dying part skips cgroup-mode:... after the
  // nr_descendants part has run.
  CKC_BEHAVIOUR("cg.stat-descendants", "K",
                "cgroup.stat counts the live descendant groups in nr_descendants, and a group "
                "removed while memory charged to it is still in use (a socket one of its "
                "processes opened) stays counted in nr_dying_descendants");
  CKC_REQUIRE(Root(), Cgroup2Mounted(), NamespaceQuota(CLONE_NEWNET));
  // Decided before anything runs: the dying part needs memory charged in the cgroup2 tree.
  std::optional<std::string> no_memory = Unmet({ServedByCgroupVersion(
      "memory", 2, fmt::format("{}-memory-is-v1", CgroupModeName(Cgroups().mode())))});
  ASSERT_OK_AND_ASSIGN(Cgroup top, Cgroup::Create(Cgroups(), "stat", {}));
  ASSERT_OK_AND_ASSIGN(Cgroup a, Cgroup::Create(Cgroups(), "stat/a", {}));
  ASSERT_OK_AND_ASSIGN(Cgroup b, Cgroup::Create(Cgroups(), "stat/a/b", {}));
  ASSERT_OK_AND_ASSIGN(Cgroup c, Cgroup::Create(Cgroups(), "stat/c", {}));
  CKC_REQUIRE(CoreFile(DirOf(top), "cgroup.stat"));
  ASSERT_OK_AND_ASSIGN(CgroupStat st, ReadCgroupStat(DirOf(top)));
  EXPECT_EQ(st.nr_descendants, 3u) << "a, a/b and c";
  ASSERT_OK_AND_ASSIGN(CgroupStat st_a, ReadCgroupStat(DirOf(a)));
  EXPECT_EQ(st_a.nr_descendants, 1u) << "a/b";
  ASSERT_OK(c.Remove());
  ASSERT_OK_AND_ASSIGN(CgroupStat st2, ReadCgroupStat(DirOf(top)));
  EXPECT_EQ(st2.nr_descendants, 2u) << "after removing c";
  if (no_memory) GTEST_SKIP() << *no_memory << " (the dying-descendant part was not run)";
  // A group removed while memory charged to it is still in use lingers as dying. Page cache is
  // no witness: newer kernels hand a removed group's pages to its parent. A socket keeps its
  // group (and its buffers stay charged there) until it is closed.
  ASSERT_OK_AND_ASSIGN(Cgroup mem, Cgroup::Create(Cgroups(), "stat-dying", {"memory"}));
  ASSERT_OK_AND_ASSIGN(Cgroup gone, mem.CreateChild("gone"));
  ASSERT_OK_AND_ASSIGN(Channel ch, Channel::Create());
  ASSERT_OK_AND_ASSIGN(Child child, SpawnIn(gone,
                                            [&] {
                                              ch.BecomeChild();
                                              return HandOverChargedSockets(ch);
                                            },
                                            {.flags = CLONE_NEWNET}));
  ch.BecomeParent();
  ASSERT_OK_AND_ASSIGN(UniqueFd client, ch.RecvFd(10s));
  ASSERT_OK_AND_ASSIGN(UniqueFd server, ch.RecvFd(10s));
  ASSERT_OK_AND_ASSIGN(ExitStatus exited, child.Wait(10s));
  CKC_ASSERT_SETUP(exited.Exited(0)) << "the socket child " << exited.Describe();
  ASSERT_OK_AND_ASSIGN(auto stat, gone.ReadKeyed("memory", "memory.stat"));
  ASSERT_OK_AND_ASSIGN(std::string mdir, mem.Dir("memory"));
  ASSERT_OK(gone.Remove());
  std::this_thread::sleep_for(300ms);  // past the RCU-deferred freeing of a group with nothing left
  ASSERT_OK_AND_ASSIGN(CgroupStat dying, ReadCgroupStat(mdir));
  EXPECT_GE(dying.nr_dying_descendants, 1u)
      << "a group removed while its sockets (memory.stat sock " << stat["sock"]
      << " bytes) are still open";
  EXPECT_EQ(dying.nr_descendants, 0u) << "a dying group is not a visible descendant";
}

Requirement DelegateFile() {
  return {[]() -> std::optional<std::string> {
    if (DelegatableFiles()) return std::nullopt;
    return "kernel:/sys/kernel/cgroup/delegate (the kernel does not list delegatable files)";
  }};
}

// The outcome of mkdir(`path`) by the calling process.
std::string MkdirOutcome(const std::string& path) { return Outcome(::mkdir(path.c_str(), 0755)); }

TEST(CgroupCore, DelegationContained) {
  // Source: cgroup-v2.rst "Model of Delegation" (chown the directory, cgroup.procs,
  // cgroup.threads, cgroup.subtree_control) and "Delegation Containment" (write access to the
  // common ancestor's cgroup.procs is needed, else EACCES; C0/C1 example); systemd's
  // cgroup-delegation doc and kernel/cgroup/cgroup.c for /sys/kernel/cgroup/delegate.
  // Negative control: a kernel without the delegate file skips kernel:/sys/kernel/cgroup/delegate;
  // the same user's moves inside the delegated subtree succeed where the move out is refused.
  CKC_BEHAVIOUR("cg.delegation", "K",
                "after its directory and cgroup.procs, cgroup.threads and cgroup.subtree_control "
                "are chowned to an unprivileged user, that user can create groups below it and "
                "move its own processes among them, but cannot move them to a group outside, even "
                "one also delegated to it (EACCES); /sys/kernel/cgroup/delegate lists these files");
  CKC_REQUIRE(Root(), Cgroup2Mounted());
  CKC_REQUIRE(DelegateFile());
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> listed, DelegatableFiles());
  for (const char* f : {"cgroup.procs", "cgroup.threads", "cgroup.subtree_control"}) {
    EXPECT_NE(std::ranges::find(listed, f), listed.end()) << "/sys/kernel/cgroup/delegate: " << f;
  }
  ASSERT_OK_AND_ASSIGN(Cgroup mine, Cgroup::Create(Cgroups(), "delegated", {}));
  ASSERT_OK_AND_ASSIGN(Cgroup other, Cgroup::Create(Cgroups(), "delegated-other", {}));
  const std::string dir = DirOf(mine), elsewhere = DirOf(other);
  const std::string run_parent = dir.substr(0, dir.rfind('/'));
  ASSERT_OK(DelegateGroup(dir, kNobody, kNobody));
  ASSERT_OK(DelegateGroup(elsewhere, kNobody, kNobody));
  ASSERT_OK_AND_ASSIGN(ChildResult r, RunIn(mine, [&](Channel& ch) {
                         CKC_CHILD_CHECK(BecomeUser(kNobody, kNobody));
                         Observe(ch, "mkdir-a", MkdirOutcome(dir + "/a"));
                         Observe(ch, "mkdir-b", MkdirOutcome(dir + "/b"));
                         Observe(ch, "mkdir-outside", MkdirOutcome(run_parent + "/nobody"));
                         auto into = [&](const std::string& d) {
                           auto st = MoveProcess(d, ::getpid());
                           return st ? std::string("ok") : "!" + ErrnoName(st.error().err);
                         };
                         Observe(ch, "move-a", into(dir + "/a"));
                         Observe(ch, "move-b", into(dir + "/b"));
                         Observe(ch, "move-outside", into(elsewhere));
                         auto path = ProcCgroupPath(::getpid(), "");
                         Observe(ch, "cgroup", path ? *path : path.error().Message());
                         return 0;
                       }));
  ASSERT_TRUE(r.status.Exited(0)) << r.Describe();
  Observations seen = Parse(r);
  EXPECT_EQ(seen["mkdir-a"], "ok") << "mkdir in the delegated group";
  EXPECT_EQ(seen["mkdir-b"], "ok") << "mkdir in the delegated group";
  EXPECT_EQ(seen["mkdir-outside"], "!EACCES") << "mkdir beside the delegated group";
  EXPECT_EQ(seen["move-a"], "ok") << "moving itself into a/";
  EXPECT_EQ(seen["move-b"], "ok") << "moving itself from a/ to b/";
  EXPECT_EQ(seen["move-outside"], "!EACCES")
      << "moving itself to another group delegated to it, across the run parent";
  EXPECT_EQ(seen["cgroup"], "/" + mine.relative() + "/b") << "where it ended up";
}

TEST(CgroupCore, OpenTimeCredentials) {
  // Source: commit 1756d7994ad8 "cgroup: Use open-time credentials for process migraton perm
  // checks" (CVE-2021-4197): the migration check uses the credentials of the file's opener
  // (file->f_cred), not of the writer; selftests test_core.c test_cgcore_lesser_euid_open.
  // Negative control: a kernel without the fix lets root's write through nobody's descriptor
  // migrate the process (and refuses nobody's write through root's), so the row fails there.
  CKC_BEHAVIOUR("cg.open-time-creds", "K",
                "whether a pid written to cgroup.procs may be migrated is decided by the "
                "credentials of the process that opened the file, not of the one writing to it: "
                "root writing through nobody's descriptor is refused, nobody writing through "
                "root's is allowed");
  CKC_REQUIRE(Root(), Cgroup2Mounted());
  ASSERT_OK_AND_ASSIGN(Cgroup mine, Cgroup::Create(Cgroups(), "otc-delegated", {}));
  ASSERT_OK_AND_ASSIGN(Cgroup other, Cgroup::Create(Cgroups(), "otc-other", {}));
  const std::string dir = DirOf(mine), elsewhere = DirOf(other);
  ASSERT_OK(DelegateGroup(dir, kNobody, kNobody));
  ASSERT_OK_AND_ASSIGN(InGroup victim, StartIn(other, WaitForExit));
  // nobody (in its delegated group) opens its own cgroup.procs and hands the descriptor over,
  // then writes its own pid through the descriptor root opened on the other group.
  ASSERT_OK_AND_ASSIGN(InGroup nobody, StartIn(mine, [&](Channel& ch) {
                         CKC_CHILD_CHECK(BecomeUser(kNobody, kNobody));
                         CKC_CHILD_TRY(procs, OpenFile(dir + "/cgroup.procs", O_WRONLY));
                         CKC_CHILD_CHECK(ch.SendFd(procs.get()));
                         CKC_CHILD_TRY(roots, ch.RecvFd(10s));
                         auto st = WritePidTo(roots.get(), ::getpid(), "root's fd");
                         Observe(ch, "write", st ? "ok" : "!" + ErrnoName(st.error().err));
                         auto path = ProcCgroupPath(::getpid(), "");
                         Observe(ch, "cgroup", path ? *path : path.error().Message());
                         return 0;
                       }));
  ASSERT_OK_AND_ASSIGN(UniqueFd nobodys, nobody.ch.RecvFd(10s));
  EXPECT_THAT(WritePidTo(nobodys.get(), victim.child.pid(), "nobody's fd"), FailsWith(EACCES))
      << "root moving a process into nobody's group through nobody's descriptor (nobody may not "
         "write the common ancestor's cgroup.procs)";
  EXPECT_EQ(ProcCgroupPath(victim.child.pid(), "").value_or("?"), "/" + other.relative())
      << "the victim stays where it was";
  ASSERT_OK_AND_ASSIGN(UniqueFd roots, OpenFile(elsewhere + "/cgroup.procs", O_WRONLY));
  ASSERT_OK(nobody.ch.SendFd(roots.get()));
  ASSERT_OK_AND_ASSIGN(ChildResult r, Collect(nobody.child, nobody.ch, 10s));
  ASSERT_TRUE(r.status.Exited(0)) << r.Describe();
  Observations seen = Parse(r);
  EXPECT_EQ(seen["write"], "ok") << "nobody moving itself out through root's descriptor";
  EXPECT_EQ(seen["cgroup"], "/" + other.relative()) << "where nobody ended up";
  ASSERT_OK(victim.ch.Send("exit"));
}

}  // namespace
}  // namespace ckc::test

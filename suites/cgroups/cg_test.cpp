// Rows cg.* (control groups in general) and pids.max.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <set>
#include <sstream>

#include "cg_suite.h"

namespace ckc::test {
namespace {

// The hierarchy of /proc/PID/cgroup that shows `controller`: its v1 name, or "" for "0::".
std::string Hierarchy(const Cgroup& cg, const std::string& controller) {
  auto v = cg.version(controller);
  if (v && *v == CgroupVersion::kV2) return "";
  return CgroupSystem::V1Names(controller).front();
}

std::set<std::string> WordSet(std::string_view text) {
  std::set<std::string> out;
  std::istringstream in{std::string(text)};
  for (std::string w; in >> w;) out.insert(w);
  return out;
}

TEST(Cgroup, TreeAnyDepth) {
  // Source: D "Control groups" (hierarchies of groups); F "cgroups" (mkdir under
  // /sys/fs/cgroup/<controller>); cgroup-v2.rst "Creating cgroups and migrating processes".
  CKC_BEHAVIOUR("cg.tree", "D",
                "cgroups nest to any depth, and a process placed in a deep node is listed in its "
                "cgroup.procs and named by /proc/PID/cgroup");
  CKC_REQUIRE(Root(), Controller("pids"));
  ASSERT_OK_AND_ASSIGN(Cgroup top, Cgroup::Create(Cgroups(), "tree", {"pids"}));
  ASSERT_OK_AND_ASSIGN(Cgroup a, top.CreateChild("a"));
  ASSERT_OK_AND_ASSIGN(Cgroup b, a.CreateChild("b"));
  ASSERT_OK_AND_ASSIGN(Cgroup leaf, b.CreateChild("c"));
  ASSERT_OK_AND_ASSIGN(
      InGroup c, StartIn(leaf, [](Channel& ch) { return ch.Expect("exit").has_value() ? 0 : 1; }));
  auto path = ProcCgroupPath(c.child.pid(), Hierarchy(leaf, "pids"));
  ASSERT_TRUE(path.has_value()) << path.error().Message();
  EXPECT_EQ(*path, "/" + leaf.relative()) << "expected /proc/PID/cgroup to name the 4-deep group";
  auto procs = leaf.Procs("pids");
  ASSERT_TRUE(procs.has_value()) << procs.error().Message();
  EXPECT_EQ(*procs, std::vector<pid_t>{c.child.pid()})
      << "expected the leaf's cgroup.procs to list the child";
  ASSERT_OK(c.ch.Send("exit"));
  ASSERT_OK_AND_ASSIGN(ExitStatus st, c.child.Wait(10s));
  EXPECT_TRUE(st.Exited(0)) << st.Describe();
}

TEST(Cgroup, ForkInherits) {
  // Source: D "Control groups" ("new processes start in the group of their parent");
  // cgroup-v2.rst "Processes": "a forked child process is put in the parent's cgroup".
  CKC_BEHAVIOUR("cg.fork-inherits", "D",
                "a forked child begins life in the same cgroup as the process that forked it");
  CKC_REQUIRE(Root(), Controller("pids"));
  ASSERT_OK_AND_ASSIGN(Cgroup cg, Cgroup::Create(Cgroups(), "inherit", {"pids"}));
  std::string hierarchy = Hierarchy(cg, "pids");
  ASSERT_OK_AND_ASSIGN(ChildResult r, RunIn(cg, [&](Channel& ch) {
                         pid_t pid = ::fork();
                         if (pid == 0) {
                           auto p = ProcCgroupPath(::getpid(), hierarchy);
                           (void)ch.Send(p ? *p : "error: " + p.error().Message());
                           ::_exit(0);
                         }
                         int status = 0;
                         if (pid < 0 || ::waitpid(pid, &status, 0) != pid)
                           return ReportErrno(ch, "fork");
                         return 0;
                       }));
  ASSERT_TRUE(r.status.Exited(0)) << r.Describe();
  ASSERT_EQ(r.reports.size(), 1u) << r.Describe();
  EXPECT_EQ(r.reports[0], "/" + cg.relative()) << "expected the grandchild in its parent's group";
}

TEST(Cgroup, AccountingWithoutLimits) {
  // Source: D "Memory cgroup: accounting" (every page is charged to a group, limits optional).
  CKC_BEHAVIOUR("cg.accounting-without-limits", "D",
                "a cgroup with no limit configured still counts the memory its processes allocate");
  CKC_REQUIRE(Root(), Controller("memory"));
  ASSERT_OK_AND_ASSIGN(Cgroup cg, Cgroup::Create(Cgroups(), "acct", {"memory"}));
  ASSERT_OK_AND_ASSIGN(InGroup c, StartIn(cg, [](Channel& ch) {
                         if (!TouchAnon(32 * kMiB)) return ReportErrno(ch, "mmap");
                         (void)ch.Send("touched");
                         return ch.Expect("exit").has_value() ? 0 : 1;
                       }));
  ASSERT_OK(c.ch.Expect("touched", 20s));
  ASSERT_OK_AND_ASSIGN(uint64_t usage, cg.MemoryCurrent());
  EXPECT_GE(usage, 30 * kMiB) << "expected >= 30 MiB charged to an unlimited group after touching "
                                 "32 MiB, saw "
                              << usage;
  ASSERT_OK_AND_ASSIGN(
      std::string limit,
      cg.Read("memory",
              cg.version("memory") == CgroupVersion::kV2 ? "memory.max" : "memory.limit_in_bytes"));
  ASSERT_OK(c.ch.Send("exit"));
  ASSERT_OK_AND_ASSIGN(ExitStatus st, c.child.Wait(10s));
  EXPECT_TRUE(st.Exited(0)) << st.Describe() << " (limit was " << limit << ")";
}

TEST(Cgroup, RmdirBusy) {
  // Source: cgroup-v2.rst "Creating cgroups": "A cgroup which doesn't have any children or
  // live processes can be destroyed by removing the directory"; cgroups(7) rmdir EBUSY.
  CKC_BEHAVIOUR("cg.rmdir-busy", "K",
                "rmdir of a cgroup that still holds a process fails with EBUSY, and succeeds once "
                "the group is empty");
  CKC_REQUIRE(Root(), Controller("pids"));
  ASSERT_OK_AND_ASSIGN(Cgroup cg, Cgroup::Create(Cgroups(), "busy", {"pids"}));
  ASSERT_OK_AND_ASSIGN(
      InGroup c, StartIn(cg, [](Channel& ch) { return ch.Expect("exit").has_value() ? 0 : 1; }));
  ASSERT_OK_AND_ASSIGN(std::string dir, cg.Dir("pids"));
  EXPECT_THAT(::rmdir(dir.c_str()), SyscallFailsWith(EBUSY)) << "rmdir of a group with a member";
  ASSERT_OK(c.ch.Send("exit"));
  ASSERT_OK_AND_ASSIGN(ExitStatus st, c.child.Wait(10s));
  ASSERT_TRUE(st.Exited(0)) << st.Describe();
  // Once the member is reaped the same rmdir succeeds.
  EXPECT_TRUE(Eventually([&] { return ::rmdir(dir.c_str()) == 0; }, 5s))
      << "rmdir after the member left: " << ErrnoName(errno);
}

TEST(Cgroup, V1PerControllerTrees) {
  // Source: D "Control groups" (one hierarchy per controller); cgroup-v1/cgroups.rst 2.1.
  CKC_BEHAVIOUR("cg.v1-per-controller-trees", "D",
                "v1: controllers are mounted as separate hierarchies, so a single process may "
                "belong to one group in the memory tree and another in the pids tree");
  CKC_REQUIRE(Root(), ServedByCgroupVersion("pids", 1, "v2-single-tree"),
              ServedByCgroupVersion("memory", 1, "v2-single-tree"));
  ASSERT_OK_AND_ASSIGN(Cgroup mem, Cgroup::Create(Cgroups(), "tree-memory", {"memory"}));
  ASSERT_OK_AND_ASSIGN(Cgroup pids, Cgroup::Create(Cgroups(), "tree-pids", {"pids"}));
  ASSERT_OK_AND_ASSIGN(
      InGroup c, StartIn(mem, [](Channel& ch) { return ch.Expect("exit").has_value() ? 0 : 1; }));
  ASSERT_OK(pids.Attach(c.child.pid()));
  auto m = ProcCgroupPath(c.child.pid(), "memory");
  auto p = ProcCgroupPath(c.child.pid(), "pids");
  ASSERT_TRUE(m && p) << "reading /proc/PID/cgroup";
  EXPECT_EQ(*m, "/" + mem.relative()) << "memory hierarchy";
  EXPECT_EQ(*p, "/" + pids.relative()) << "pids hierarchy: one process, different nodes per tree";
  ASSERT_OK(c.ch.Send("exit"));
  ASSERT_OK_AND_ASSIGN(ExitStatus st, c.child.Wait(10s));
  EXPECT_TRUE(st.Exited(0)) << st.Describe();
}

TEST(Cgroup, V2SingleTree) {
  // Source: cgroup-v2.rst "Mounting" / "Enabling and Disabling": one hierarchy;
  // cgroup.controllers lists the controllers available to the group (its parent's
  // subtree_control).
  CKC_BEHAVIOUR("cg.v2-single-tree", "K",
                "v2: all controllers share one hierarchy, and a group's cgroup.controllers shows "
                "the controllers its parent makes available to it");
  CKC_REQUIRE(Root(), Cgroup2Mounted());
  ASSERT_OK_AND_ASSIGN(Cgroup cg, Cgroup::Create(Cgroups(), "single", {}));
  ASSERT_OK_AND_ASSIGN(std::string dir, cg.Dir(""));
  ASSERT_OK_AND_ASSIGN(std::string listed, ReadFile(dir + "/cgroup.controllers"));
  std::string parent = dir.substr(0, dir.rfind('/'));
  ASSERT_OK_AND_ASSIGN(std::string enabled, ReadFile(parent + "/cgroup.subtree_control"));
  EXPECT_EQ(WordSet(listed), WordSet(enabled))
      << "cgroup.controllers `" << listed << "` vs the parent's subtree_control `" << enabled
      << "`";
  ASSERT_OK_AND_ASSIGN(ChildResult r, RunIn(cg, [](Channel& ch) {
                         auto p = ProcCgroupPath(::getpid(), "");
                         return Report(ch, p ? *p : "error: " + p.error().Message(), 0);
                       }));
  ASSERT_TRUE(r.status.Exited(0)) << r.Describe();
  ASSERT_EQ(r.reports.size(), 1u) << r.Describe();
  EXPECT_EQ(r.reports[0], "/" + cg.relative()) << "the 0:: line of /proc/PID/cgroup";
}

TEST(Cgroup, V2NoInternalProcesses) {
  // Source: cgroup-v2.rst "No Internal Process Constraint": a non-root cgroup can distribute
  // domain resources to its children only when it has no processes of its own.
  CKC_BEHAVIOUR("cg.v2-no-internal-processes", "K",
                "v2: while a non-root group has member processes it cannot enable a domain "
                "controller for its children, and once it has enabled one it refuses new processes "
                "(EBUSY either way)");
  CKC_REQUIRE(Root(), V2DomainController());
  std::string ctl = *FirstV2DomainController();
  ASSERT_OK_AND_ASSIGN(Cgroup cg, Cgroup::Create(Cgroups(), "internal", {ctl}));
  ASSERT_OK_AND_ASSIGN(std::string dir, cg.Dir(ctl));
  ASSERT_OK_AND_ASSIGN(
      InGroup c, StartIn(cg, [](Channel& ch) { return ch.Expect("exit").has_value() ? 0 : 1; }));
  auto st = WriteFile(dir + "/cgroup.subtree_control", "+" + ctl);
  EXPECT_THAT(st, FailsWith(EBUSY)) << "enabling " << ctl << " in a group with a process";
  ASSERT_OK(c.ch.Send("exit"));
  ASSERT_OK_AND_ASSIGN(ExitStatus es, c.child.Wait(10s));
  ASSERT_TRUE(es.Exited(0)) << es.Describe();
  EXPECT_TRUE(Eventually(
      [&] { return WriteFile(dir + "/cgroup.subtree_control", "+" + ctl).has_value(); }, 5s))
      << "enabling " << ctl << " once the group is empty";
  // And the other way round: a group that distributes a domain controller takes no process.
  auto joined = SpawnIn(cg, [] { return 0; });
  EXPECT_THAT(joined, FailsWith(EBUSY))
      << "starting a process in a group with +" << ctl << " in its subtree_control";
}

TEST(Pids, MaxFailsForkWithEagain) {
  // Source: cgroup-v1/pids.rst, cgroup-v2.rst "PID": fork()/clone() beyond pids.max fail with
  // EAGAIN; pids.current counts the group's processes.
  CKC_BEHAVIOUR("pids.max", "K",
                "once a group holds pids.max processes, a further fork() in it fails with EAGAIN, "
                "and pids.current reports how many processes the group has");
  CKC_REQUIRE(Root(), Controller("pids"));
  ASSERT_OK_AND_ASSIGN(Cgroup cg, Cgroup::Create(Cgroups(), "pidsmax", {"pids"}));
  ASSERT_OK(cg.SetPidsMax(3));
  ASSERT_OK_AND_ASSIGN(InGroup c, StartIn(cg, [](Channel& ch) {
                         std::vector<pid_t> kids;
                         int err = 0;
                         for (int i = 0; i < 5; ++i) {
                           pid_t pid = ::fork();
                           if (pid == 0) {
                             ::pause();
                             ::_exit(0);
                           }
                           if (pid < 0) {
                             err = errno;
                             break;
                           }
                           kids.push_back(pid);
                         }
                         (void)ch.Send(fmt::format("forked {} then {}", kids.size(),
                                                   err ? ErrnoName(err) : "no error"));
                         bool go = ch.Expect("exit").has_value();
                         for (pid_t k : kids) ::kill(k, SIGKILL);
                         for (pid_t k : kids) ::waitpid(k, nullptr, 0);
                         return go ? 0 : 1;
                       }));
  ASSERT_OK_AND_ASSIGN(std::string msg, c.ch.Recv(10s));
  EXPECT_EQ(msg, "forked 2 then EAGAIN") << "pids.max=3 with the forking child itself counted";
  ASSERT_OK_AND_ASSIGN(uint64_t current, cg.PidsCurrent());
  EXPECT_EQ(current, 3u) << "pids.current with the child and its two sleepers";
  ASSERT_OK(c.ch.Send("exit"));
  ASSERT_OK_AND_ASSIGN(ExitStatus st, c.child.Wait(10s));
  EXPECT_TRUE(st.Exited(0)) << st.Describe();
}

}  // namespace
}  // namespace ckc::test

// Rows cg.* (control groups in general) and pids.max.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <algorithm>
#include <filesystem>
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
  // Negative control: cgroup_disable=pids skips; a child started in `top` fails the path check.
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
  // Negative control: cgroup_disable=pids skips; a grandchild moved out before it reports fails.
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
  // Negative control: cgroup_disable=memory skips; a child touching nothing fails >= 30 MiB.
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
  // Negative control: cgroup_disable=pids skips; reaping the member before the first rmdir fails.
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
  // Negative control: cgroup_no_v1=all (a v2 machine) skips as cgroup-mode:v2-single-tree.
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

// Up to two controllers the host already enables at the cgroup2 root (its
// cgroup.subtree_control), pids first: a group under the run-scoped parent can be given them
// without writing the root.
std::vector<std::string> EnabledAtV2Root() {
  auto mount = Cgroups().V2Mount();
  if (!mount) return {};
  std::set<std::string> words = WordSet(ReadFile(*mount + "/cgroup.subtree_control").value_or(""));
  std::vector<std::string> out;
  for (const char* c : {"pids", "memory", "io", "cpu"}) {
    if (words.erase(c)) out.push_back(c);
  }
  out.insert(out.end(), words.begin(), words.end());
  if (out.size() > 2) out.resize(2);
  return out;
}

// The lines of /proc/PID/cgroup.
std::vector<std::string> ProcCgroupLines(pid_t pid) {
  std::vector<std::string> out;
  std::istringstream in(ReadFile(fmt::format("/proc/{}/cgroup", pid)).value_or(""));
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

// Interface files of `controller` ("pids.max", ...) in `dir`.
int InterfaceFiles(const std::string& dir, const std::string& controller) {
  int n = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.path().filename().string().starts_with(controller + ".")) ++n;
  }
  return n;
}

std::string Words(const std::vector<std::string>& v) {
  return fmt::format("{}", fmt::join(v, " "));
}

TEST(Cgroup, V2SingleTree) {
  // Source: cgroup-v2.rst "Mounting" (one hierarchy), "Enabling and Disabling" (cgroup.controllers
  // lists what the parent's cgroup.subtree_control enables), "Processes" (/proc/PID/cgroup has the
  // single "0::$PATH" line on v2).
  // Negative control: an empty hybrid cgroup2 root (this VM) skips as hybrid-no-v2-controller.
  CKC_BEHAVIOUR("cg.v2-single-tree", "K",
                "v2: one hierarchy serves every controller: a process's /proc/PID/cgroup is the "
                "single 0:: line naming its group, and a controller enabled in a group's "
                "cgroup.subtree_control appears in its child's cgroup.controllers while one not "
                "enabled does not");
  CKC_REQUIRE(Root(), Cgroup2Mounted());
  const bool pure_v2 = Cgroups().mode() == CgroupMode::kV2;
  // Probed before anything runs; the host's root is never written.
  const std::vector<std::string> usable = EnabledAtV2Root();
  ASSERT_OK_AND_ASSIGN(Cgroup parent, Cgroup::Create(Cgroups(), "single", usable));
  ASSERT_OK_AND_ASSIGN(Cgroup child, Cgroup::Create(Cgroups(), "single/child", {}));
  if (!usable.empty()) {
    ASSERT_OK_AND_ASSIGN(std::string dir, parent.Dir(usable.front()));
    ASSERT_OK_AND_ASSIGN(std::string child_dir, child.Dir(""));
    ASSERT_OK_AND_ASSIGN(std::string offered, ReadFile(dir + "/cgroup.controllers"));
    for (const auto& c : usable) {
      CKC_ASSERT_SETUP(WordSet(offered).contains(c))
          << "the run-scoped parent enables " << c << ", yet the group is offered `" << offered
          << "`";
    }
    ASSERT_OK_AND_ASSIGN(std::string before, ReadFile(child_dir + "/cgroup.controllers"));
    EXPECT_EQ(WordSet(before), std::set<std::string>{})
        << "the child's cgroup.controllers before its parent enables anything: `" << before << "`";
    const std::string& enabled = usable.front();
    ASSERT_OK(WriteFile(dir + "/cgroup.subtree_control", "+" + enabled));
    ASSERT_OK_AND_ASSIGN(std::string after, ReadFile(child_dir + "/cgroup.controllers"));
    EXPECT_TRUE(WordSet(after).contains(enabled))
        << "+" << enabled << " in the parent's cgroup.subtree_control, yet the child's "
        << "cgroup.controllers is `" << after << "`";
    for (const auto& other : usable) {
      EXPECT_TRUE(other == enabled || !WordSet(after).contains(other))
          << other << " is offered to the parent but not enabled by it, yet the child lists it: `"
          << after << "`";
    }
    EXPECT_GT(InterfaceFiles(child_dir, enabled), 0)
        << "the child has no " << enabled << ".* file once its parent enables " << enabled;
  }
  ASSERT_OK_AND_ASSIGN(ChildResult r, RunIn(child, [](Channel& ch) {
                         for (const auto& line : ProcCgroupLines(::getpid())) (void)ch.Send(line);
                         return 0;
                       }));
  ASSERT_TRUE(r.status.Exited(0)) << r.Describe();
  std::string own = "0::/" + child.relative();
  EXPECT_EQ(std::ranges::count(r.reports, own), 1)
      << "/proc/PID/cgroup must have one 0:: line naming the group: " << Words(r.reports);
  if (pure_v2) {
    EXPECT_EQ(r.reports, std::vector<std::string>{own})
        << "on a v2 machine /proc/PID/cgroup is the single 0:: line: " << Words(r.reports);
  }
  if (usable.empty()) {
    GTEST_SKIP() << "cgroup-mode:" << CgroupModeName(Cgroups().mode())
                 << "-no-v2-controller (the cgroup2 root enables no controller in its "
                    "cgroup.subtree_control, and ckc does not change the host's root; the 0:: "
                    "line was checked)";
  }
}

TEST(Cgroup, V2NoInternalProcesses) {
  // Source: cgroup-v2.rst "No Internal Process Constraint": a non-root cgroup can distribute
  // domain resources to its children only when it has no processes of its own.
  // Negative control: no v2 domain controller (this VM) skips; an empty group fails the EBUSY.
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
  // Negative control: cgroup_disable=pids skips; pids.max left at max lets 5 forks pass: fails.
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

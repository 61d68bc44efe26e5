// Rows cgns.root-view, cgns.mount-rooted: cgroup namespaces (cgroup_namespaces(7);
// cgroup-v2.rst "Namespace").
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <sstream>

#include "cg_suite.h"
#include "cgroup_core.h"
#include "mounts.h"
#include "namespaces.h"

namespace ckc::test {
namespace {

std::string PathOrError(pid_t pid) {
  auto p = ProcCgroupPath(pid, "");
  return p ? *p : "error: " + p.error().Message();
}

// In a child that has unshared its cgroup namespace: on each "look", reports how it sees its
// own cgroup and its parent's, until "exit".
int ReportViews(Channel& ch) {
  for (;;) {
    auto msg = ch.Recv(std::chrono::seconds(60));
    if (!msg || *msg == "exit") return msg ? 0 : 1;
    Observe(ch, "self", PathOrError(::getpid()));
    Observe(ch, "parent", PathOrError(::getppid()));
    (void)ch.Send("done");
  }
}

// The observations the child sends for one "look".
Result<Observations> Look(InGroup& c) {
  CKC_CHECK(c.ch.Send("look"));
  Observations seen;
  for (;;) {
    CKC_TRY(msg, c.ch.Recv(10s));
    if (msg == "done") return seen;
    auto eq = msg.find('=');
    if (eq == std::string::npos) return Failure("child", "cgroupns view", msg);
    seen[msg.substr(0, eq)] = msg.substr(eq + 1);
  }
}

TEST(CgroupNamespace, RootViewStaysWhereCreated) {
  // Source: cgroup_namespaces(7); cgroup-v2.rst "The Root and Views" ("The cgroupns root cgroup
  // does not change even if the namespace creator process later moves"; paths outside the root
  // are shown relative to it, starting with "/..").
  // Negative control: a kernel without cgroup namespaces skips kernel:cgroup-namespace; the
  // test process (in the initial namespace) sees the child's real path at the same moment.
  CKC_BEHAVIOUR("cgns.root-view", "K",
                "right after unshare(CLONE_NEWCGROUP) a process sees its own cgroup as \"/\" in "
                "/proc/self/cgroup; the namespace root stays at that group when the process is "
                "moved later, and groups outside the root are shown as paths starting with /..");
  CKC_REQUIRE(Root(), Cgroup2Mounted(), NamespaceType(NsType::kCgroup),
              NamespaceQuota(CLONE_NEWCGROUP));
  ASSERT_OK_AND_ASSIGN(Cgroup root, Cgroup::Create(Cgroups(), "cgns-root", {}));
  ASSERT_OK_AND_ASSIGN(Cgroup sub, Cgroup::Create(Cgroups(), "cgns-root/sub", {}));
  ASSERT_OK_AND_ASSIGN(Cgroup sibling, Cgroup::Create(Cgroups(), "cgns-sibling", {}));
  ASSERT_OK_AND_ASSIGN(std::string mine, ProcCgroupPath(::getpid(), ""));
  const std::string ns_root = "/" + root.relative();
  ASSERT_OK_AND_ASSIGN(InGroup c, StartIn(root, [](Channel& ch) {
                         CKC_CHILD_CHECK(Unshare(CLONE_NEWCGROUP));
                         return ReportViews(ch);
                       }));
  ASSERT_OK_AND_ASSIGN(Observations at_root, Look(c));
  EXPECT_EQ(at_root["self"], "/") << "its own group, right after unshare";
  EXPECT_EQ(at_root["parent"], CgroupPathSeenFrom(ns_root, mine))
      << "the test process, outside the namespace root (" << mine << ")";
  EXPECT_TRUE(at_root["parent"].starts_with("/..")) << at_root["parent"];
  ASSERT_THAT(MoveProcess(DirOf(sub), c.child.pid()), IsOk()) << "the creator, below its root";
  ASSERT_OK_AND_ASSIGN(Observations below, Look(c));
  EXPECT_EQ(below["self"], "/sub") << "moved below the namespace root: the root did not follow";
  ASSERT_THAT(MoveProcess(DirOf(sibling), c.child.pid()), IsOk()) << "the creator, out of its root";
  ASSERT_OK_AND_ASSIGN(Observations outside, Look(c));
  EXPECT_EQ(outside["self"], "/../cgns-sibling") << "moved beside the namespace root";
  EXPECT_EQ(PathOrError(c.child.pid()), "/" + sibling.relative())
      << "the same process seen from the initial cgroup namespace";
  ASSERT_OK(c.ch.Send("exit"));
  ASSERT_OK_AND_ASSIGN(ExitStatus st, c.child.Wait(10s));
  EXPECT_TRUE(st.Exited(0)) << st.Describe();
}

// The root field of the mount at `target` in /proc/self/mountinfo ("" if not mounted).
std::string MountRoot(const std::string& target) {
  auto info = ReadFile("/proc/self/mountinfo");
  if (!info) return "";
  std::istringstream in(*info);
  for (std::string line; std::getline(in, line);) {
    std::istringstream f(line);
    std::string id, parent, dev, root, point;
    if (f >> id >> parent >> dev >> root >> point && point == target) return root;
  }
  return "";
}

// The names of the subdirectories (child groups) of `dir`, sorted and comma-joined.
std::string ChildGroups(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.is_directory(ec)) names.push_back(e.path().filename());
  }
  std::ranges::sort(names);
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ",") + n;
  return out;
}

// In the sandbox (own user and mount namespaces), once moved into its group: a cgroup namespace
// of its own and a cgroup2 mount made inside it; reports what the mount shows.
int MountInNamespace(Channel& ch) {
  if (!ch.Expect("go", std::chrono::seconds(30))) return 1;
  CKC_CHILD_CHECK(Unshare(CLONE_NEWCGROUP));
  CKC_CHILD_TRY(tmp, MountTmpfs("/tmp"));
  CKC_CHILD_CHECK(MakeDirs("/tmp/cg"));
  CKC_CHILD_TRY(cg, MountFs("none", "/tmp/cg", "cgroup2"));
  Observe(ch, "groups", ChildGroups("/tmp/cg"));
  Observe(ch, "events", HasCoreFile("/tmp/cg", "cgroup.events") ? "present" : "absent");
  auto procs = ReadIds("/tmp/cg", "cgroup.procs");
  Observe(ch, "procs", procs && *procs == std::vector<pid_t>{::getpid()} ? "self" : "other");
  Observe(ch, "mount-root", MountRoot("/tmp/cg"));
  Observe(ch, "self", PathOrError(::getpid()));
  return 0;
}

TEST(CgroupNamespace, MountShowsNamespaceRoot) {
  // Source: cgroup-v2.rst "Interaction with Other Namespaces" ("This will mount the unified
  // cgroup hierarchy with cgroupns root as the filesystem root. The process needs CAP_SYS_ADMIN
  // against its user and mount namespaces"); cgroup_namespaces(7).
  // Negative control: the sibling group and the run parent exist on the host's mount at the
  // same time and must not show in the namespace's mount; no cgroup namespaces skips
  // kernel:cgroup-namespace.
  CKC_BEHAVIOUR("cgns.mount-rooted", "K",
                "a cgroup2 file system mounted by a process in its own user, mount and cgroup "
                "namespaces has the namespace's root group as its top directory: only that "
                "group's children and members are visible, none of the host's tree above it");
  CKC_REQUIRE(Root(), Cgroup2Mounted(), NamespaceType(NsType::kCgroup),
              NamespaceType(NsType::kUser),
              NamespaceQuota(CLONE_NEWCGROUP | CLONE_NEWNS | CLONE_NEWUSER));
  ASSERT_OK_AND_ASSIGN(Cgroup root, Cgroup::Create(Cgroups(), "cgns-mount", {}));
  ASSERT_OK_AND_ASSIGN(Cgroup inner, Cgroup::Create(Cgroups(), "cgns-mount/inner", {}));
  ASSERT_OK_AND_ASSIGN(Cgroup sibling, Cgroup::Create(Cgroups(), "cgns-mount-sibling", {}));
  // Root of the namespace maps to nobody outside, as in a rootless container.
  auto box = Sandbox().Namespaces(CLONE_NEWNS).MapRootTo(kNobody, kNobody);
  ASSERT_OK_AND_ASSIGN(Sandboxed run, box.Run(MountInNamespace));
  ASSERT_OK(MoveProcess(DirOf(root), run.child.pid()));
  ASSERT_OK(run.channel.Send("go"));
  ASSERT_OK_AND_ASSIGN(ChildResult r, Collect(run.child, run.channel, 10s));
  ASSERT_TRUE(r.status.Exited(0)) << r.Describe();
  Observations seen = Parse(r);
  EXPECT_EQ(seen["groups"], "inner") << "child groups at the top of the namespace's mount";
  EXPECT_EQ(seen["events"], "present") << "the top is a non-root group (cgroup.events)";
  EXPECT_EQ(seen["procs"], "self") << "the top's cgroup.procs lists the namespace's process";
  EXPECT_EQ(seen["mount-root"], "/") << "mountinfo root of the namespace's cgroup2 mount";
  EXPECT_EQ(seen["self"], "/") << "/proc/self/cgroup inside the namespace";
}

}  // namespace
}  // namespace ckc::test

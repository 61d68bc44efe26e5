// Rows freezer.*, devices.allow-list (D "Other controllers": freezer, devices;
// cgroup-v1/freezer-subsystem.rst, cgroup-v1/devices.rst, cgroup-v2.rst "Core Interface Files"
// cgroup.freeze and "Device controller").
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <fmt/format.h>
#include <atomic>
#include <thread>

#include "cg_suite.h"
#include "cgroup_devices.h"

namespace ckc::test {
namespace {

bool WaitState(const Cgroup& cg, const std::string& want, std::string* seen) {
  return Eventually(
      [&] {
        auto s = cg.FreezerState();
        *seen = s ? *s : s.error().Message();
        return s && *s == want;
      },
      5s);
}

// The groups a freezer row runs on: the one serving "freezer", and on a hybrid machine whose
// freezer is v1 also a plain cgroup2 group (cgroup.freeze is core v2).
std::vector<Cgroup> FreezerGroups(const std::string& name) {
  std::vector<Cgroup> out;
  auto cg = Cgroup::Create(Cgroups(), name, {"freezer"});
  if (!cg) {
    SetupFailed(cg.error(), __FILE__, __LINE__);
    return out;
  }
  bool v1 = cg->version("freezer") == CgroupVersion::kV1;
  out.push_back(std::move(*cg));
  if (v1 && Cgroups().layout().V2Mount()) {
    auto v2 = Cgroup::Create(Cgroups(), name + "-v2", {});
    if (!v2) SetupFailed(v2.error(), __FILE__, __LINE__);
    if (v2 && v2->Has("freezer", "cgroup.freeze")) out.push_back(std::move(*v2));
  }
  return out;
}

void CheckFreezeThaw(const Cgroup& cg) {
  std::string version(CgroupVersionName(*cg.version("freezer")));
  SCOPED_TRACE(version + " freezer");
  SharedCounter counter;
  CKC_ASSERT_SETUP(counter.value != nullptr) << "mmap of the shared counter";
  ASSERT_OK_AND_ASSIGN(Child child, SpawnIn(cg, [&]() -> int {
                         for (;;) counter.value->fetch_add(1, std::memory_order_relaxed);
                       }));
  CKC_ASSERT_SETUP(Eventually([&] { return counter.value->load() > 0; }, 5s))
      << "the child never ran";
  ASSERT_OK(cg.Freeze(true));
  std::string seen;
  ASSERT_TRUE(WaitState(cg, "FROZEN", &seen)) << "state after freezing: " << seen;
  uint64_t c1 = counter.value->load();
  std::this_thread::sleep_for(200ms);  // an observation window, not ordering
  uint64_t c2 = counter.value->load();
  EXPECT_EQ(c1, c2) << "a frozen process made progress within 200 ms";
  ASSERT_OK(cg.Freeze(false));
  EXPECT_TRUE(WaitState(cg, "THAWED", &seen)) << "state after thawing: " << seen;
  EXPECT_TRUE(Eventually([&] { return counter.value->load() > c2; }, 5s))
      << "no progress after thawing";
  ASSERT_OK(child.Signal(SIGKILL));  // the test's own kill, to end the child: not under test
  ASSERT_OK_AND_ASSIGN(ExitStatus st, child.Wait(10s));
  EXPECT_TRUE(st.KilledBy(SIGKILL)) << "a thawed child dies of its SIGKILL: " << st.Describe();
}

TEST(Freezer, FreezeThaw) {
  // Source: D "Other controllers" (freezer: "a mass-SIGSTOP/SIGCONT"); cgroup-v1/
  // freezer-subsystem.rst freezer.state; cgroup-v2.rst cgroup.freeze / cgroup.events "frozen".
  // Negative control: booted with cgroup_disable=freezer (v1) it skips
  // cmdline:cgroup_disable=freezer; a freezer that let the counter move within 200 ms fails it.
  CKC_BEHAVIOUR("freezer.freeze-thaw", "D",
                "freezing a cgroup halts every process in it and reports the group as frozen, and "
                "thawing reports it thawed and lets the processes continue");
  CKC_REQUIRE(Root(), Controller("freezer"));
  for (const Cgroup& cg : FreezerGroups("freeze")) CheckFreezeThaw(cg);
}

void CheckSigkillFrozen(const Cgroup& cg) {
  ASSERT_OK_AND_ASSIGN(CgroupVersion v, cg.version("freezer"));
  SCOPED_TRACE(std::string(CgroupVersionName(v)) + " freezer");
  ASSERT_OK_AND_ASSIGN(Child child, SpawnIn(cg, []() -> int {
                         for (;;) ::pause();
                       }));
  ASSERT_OK(cg.Freeze(true));
  std::string seen;
  ASSERT_TRUE(WaitState(cg, "FROZEN", &seen)) << "state after freezing: " << seen;
  ASSERT_OK(child.Signal(SIGKILL));  // the test's SIGKILL is the behaviour's input
  if (v == CgroupVersion::kV2) {
    ASSERT_OK_AND_ASSIGN(auto st, child.TryWait(5s));
    ASSERT_TRUE(st.has_value()) << "v2: SIGKILL must end a frozen process at once";
    EXPECT_TRUE(st->KilledBy(SIGKILL)) << st->Describe();
    return;
  }
  ASSERT_OK_AND_ASSIGN(auto early, child.TryWait(500ms));
  EXPECT_FALSE(early.has_value()) << "v1: the killed process must stay frozen until thawed, but it "
                                  << early->Describe();
  ASSERT_OK(cg.Freeze(false));
  ASSERT_OK_AND_ASSIGN(ExitStatus st, child.Wait(5s));
  EXPECT_TRUE(st.KilledBy(SIGKILL))  // false when Wait timed out and killed it itself
      << "v1: dies of the SIGKILL once thawed: " << st.Describe();
}

TEST(Freezer, SigkillFrozen) {
  // Source: cgroup-v2.rst cgroup.freeze ("a frozen process can be killed by a fatal signal");
  // cgroup-v1/freezer-subsystem.rst (frozen tasks are not woken by signals; the kill takes effect
  // on thaw — seen on 6.18 v1). A hybrid machine shows both.
  // Negative control: booted with cgroup_disable=freezer (v1) it skips; a v2 kernel that held the
  // killed process until thaw fails the v2 half (no exit within 5 s), and a v1 one that let it
  // die while frozen fails the v1 half.
  CKC_BEHAVIOUR("freezer.sigkill-frozen", "K",
                "SIGKILL ends a frozen process right away on v2, while on v1 the process stays "
                "frozen and only dies once the group is thawed");
  CKC_REQUIRE(Root(), Controller("freezer"));
  for (const Cgroup& cg : FreezerGroups("killfrozen")) CheckSigkillFrozen(cg);
}

// In a child of the restricted group: /dev/null opens, /dev/zero does not, mknod of c 1:5 does not.
std::vector<std::string> ProbeDevices(const Cgroup& cg, const std::string& dir,
                                      std::string* status) {
  auto r = RunIn(cg, [&](Channel& ch) {
    int fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    (void)ch.Send(fd >= 0 ? "null ok" : "null " + ErrnoName(errno));
    if (fd >= 0) ::close(fd);
    fd = ::open("/dev/zero", O_RDONLY | O_CLOEXEC);
    (void)ch.Send(fd >= 0 ? "zero ok" : "zero " + ErrnoName(errno));
    if (fd >= 0) ::close(fd);
    std::string node = dir + "/zero-node";
    int rc = ::mknod(node.c_str(), S_IFCHR | 0600, makedev(1, 5));
    (void)ch.Send(rc == 0 ? "mknod ok" : "mknod " + ErrnoName(errno));
    if (rc == 0) ::unlink(node.c_str());
    return 0;
  });
  *status = r ? r->Describe() : r.error().Message();
  return r ? r->reports : std::vector<std::string>{};
}

TEST(Devices, AllowList) {
  // Source: D "Devices cgroup" ("allow /dev/{tty,zero,random,null} ... deny everything else";
  // permissions read/write/mknod); cgroup-v1/devices.rst; cgroup-v2.rst "Device controller"
  // (BPF_PROG_TYPE_CGROUP_DEVICE).
  // Negative control: booted with cgroup_disable=devices (v1) it skips
  // cmdline:cgroup_disable=devices; an allow-list that let /dev/zero open fails it.
  CKC_BEHAVIOUR("devices.allow-list", "D",
                "with every device denied except /dev/null (c 1:3), /dev/null still opens but "
                "opening /dev/zero and mknod fail with EPERM (on v2 through a BPF device program)");
  CKC_REQUIRE(Root(), Controller("devices"));
  const std::vector<std::string> expected = {"null ok", "zero EPERM", "mknod EPERM"};
  ASSERT_OK_AND_ASSIGN(Cgroup cg, Cgroup::Create(Cgroups(), "devices", {"devices"}));
  ASSERT_OK(AllowOnlyDevices(cg, {{'c', 1, 3, "rwm"}}));
  std::string status;
  EXPECT_EQ(ProbeDevices(cg, TestDir(), &status), expected)
      << CgroupVersionName(*cg.version("devices")) << " allow-list c 1:3 rwm: " << status;
  // A hybrid machine runs the v2 mechanism too: the BPF program applies to the cgroup2 tree.
  if (*cg.version("devices") == CgroupVersion::kV1 && Cgroups().layout().V2Mount()) {
    ASSERT_OK_AND_ASSIGN(Cgroup v2, Cgroup::Create(Cgroups(), "devices-bpf", {}));
    ASSERT_OK_AND_ASSIGN(UniqueFd prog, LoadDeviceProgram({{'c', 1, 3, "rwm"}}));
    ASSERT_OK_AND_ASSIGN(UniqueFd dir, v2.OpenV2Dir());
    ASSERT_OK(AttachDeviceProgram(dir.get(), prog.get()));
    EXPECT_EQ(ProbeDevices(v2, TestDir(), &status), expected)
        << "v2 BPF device program: " << status;
  }
}

}  // namespace
}  // namespace ckc::test

// Self-tests of the cgroup interface (cgroups.h) against fixture trees of both versions
// (fixtures/cgroup-v1, fixtures/cgroup-v2): mode and version detection, the v2 vocabulary's
// mapping to v1 files, and the "absent" errors. No root needed: the trees are copied into the
// run directory and read through CgroupSystem's root prefix.
#include <sys/sysmacros.h>

#include <fmt/format.h>
#include <filesystem>

#include "cgroups.h"
#include "ckc_test.h"

namespace ckc::test {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// A private copy of fixture tree `name` and its CgroupSystem.
struct Tree {
  std::string root;
  CgroupSystem sys;
};

Tree Copy(const std::string& name) {
  std::string root = TestDir() + "/" + name;
  std::error_code ec;
  fs::remove_all(root, ec);
  fs::copy(std::string(CKC_FIXTURES) + "/" + name, root, fs::copy_options::recursive, ec);
  EXPECT_FALSE(ec) << "copying fixture " << name << ": " << ec.message();
  auto mountinfo = ReadFile(root + "/mountinfo.txt");
  EXPECT_TRUE(mountinfo.has_value());
  return {root, CgroupSystem::FromLayout(DetectCgroupLayout(mountinfo.value_or("")), root)};
}

std::string Content(const std::string& path) {
  auto text = ReadFile(path);
  return text ? *text : "<" + text.error().Message() + ">";
}

TEST(CgroupV1Fixture, VersionAndMounts) {
  Tree t = Copy("cgroup-v1");
  EXPECT_EQ(t.sys.mode(), CgroupMode::kV1);
  EXPECT_EQ(t.sys.VersionOf("memory"), CgroupVersion::kV1);
  EXPECT_EQ(t.sys.VersionOf("io"), CgroupVersion::kV1) << "io is v1's blkio";
  EXPECT_EQ(t.sys.MountOf("cpu"), t.root + "/sys/fs/cgroup/cpu,cpuacct");
  auto netcls = t.sys.VersionOf("net_cls");
  ASSERT_FALSE(netcls.has_value());
  EXPECT_THAT(netcls.error().Message(),
              HasSubstr("net_cls controller not mounted (CONFIG_CGROUP_NET_CLASSID not set?)"));
  auto v2 = t.sys.V2Mount();
  EXPECT_FALSE(v2.has_value()) << "no cgroup2 mount in a v1 tree";
}

TEST(CgroupV1Fixture, MemoryMapsToLimitAndMemsw) {
  Tree t = Copy("cgroup-v1");
  ASSERT_OK_AND_ASSIGN(Cgroup cg, Cgroup::Open(t.sys, "grp", {"memory"}));
  std::string dir = t.root + "/sys/fs/cgroup/memory/grp";
  ASSERT_OK(cg.SetMemoryMax(8 << 20));
  EXPECT_EQ(Content(dir + "/memory.limit_in_bytes"), "8388608");
  EXPECT_EQ(Content(dir + "/memory.memsw.limit_in_bytes"), "-1") << "memsw stays unlimited";
  ASSERT_OK(cg.SetSwapMax(0));
  EXPECT_EQ(Content(dir + "/memory.memsw.limit_in_bytes"), "8388608") << "memsw = limit + swap";
  ASSERT_OK(cg.SetSwapMax(4 << 20));
  ASSERT_OK(cg.SetMemoryMax(16 << 20));
  EXPECT_EQ(Content(dir + "/memory.memsw.limit_in_bytes"), "20971520")
      << "the swap allowance is kept";
  ASSERT_OK(cg.SetMemoryHigh(1 << 20));
  EXPECT_EQ(Content(dir + "/memory.soft_limit_in_bytes"), "1048576");
  ASSERT_OK_AND_ASSIGN(MemoryStat s, cg.MemoryStats());
  EXPECT_EQ(s.anon, 33554432u) << "v1 rss";
  EXPECT_EQ(s.file, 8388608u) << "v1 cache";
  ASSERT_OK_AND_ASSIGN(MemoryEvents e, cg.GetMemoryEvents());
  EXPECT_EQ(e.oom_kill, 2u);
  EXPECT_EQ(e.max, 6u) << "failcnt + memsw.failcnt";
  EXPECT_EQ(cg.MemoryCurrent(), 41943040u);
  EXPECT_EQ(cg.version("memory"), CgroupVersion::kV1);
}

TEST(CgroupV1Fixture, AbsentMemswIsNamed) {
  Tree t = Copy("cgroup-v1");
  ASSERT_OK_AND_ASSIGN(Cgroup cg, Cgroup::Open(t.sys, "nomemsw", {"memory"}));
  auto st = cg.SetSwapMax(0);
  ASSERT_FALSE(st.has_value());
  EXPECT_THAT(st.error().Message(),
              HasSubstr("memory.memsw.limit_in_bytes: absent (swap accounting off)"));
  ASSERT_OK(cg.SetMemoryMax(1 << 20));  // without memsw the limit alone is written
}

TEST(CgroupV1Fixture, CpuIoPidsFreezer) {
  Tree t = Copy("cgroup-v1");
  ASSERT_OK_AND_ASSIGN(Cgroup cg, Cgroup::Open(t.sys, "grp", {"cpu", "io", "pids", "freezer"}));
  std::string base = t.root + "/sys/fs/cgroup";
  ASSERT_OK(cg.SetCpuWeight(300));
  EXPECT_EQ(Content(base + "/cpu,cpuacct/grp/cpu.shares"), "3072") << "weight 100 = 1024 shares";
  ASSERT_OK(cg.SetCpuMax(20000, 100000));
  EXPECT_EQ(Content(base + "/cpu,cpuacct/grp/cpu.cfs_quota_us"), "20000");
  EXPECT_EQ(Content(base + "/cpu,cpuacct/grp/cpu.cfs_period_us"), "100000");
  ASSERT_OK_AND_ASSIGN(CpuStat cs, cg.CpuStats());
  EXPECT_EQ(cs.usage_usec, 1500000u) << "cpuacct.usage in ns";
  EXPECT_EQ(cs.nr_throttled, 12u);
  EXPECT_EQ(cs.throttled_usec, 960000u);
  ASSERT_OK_AND_ASSIGN(auto per_cpu, cg.CpuUsagePerCpuNs());
  EXPECT_EQ(per_cpu, (std::vector<uint64_t>{500000000, 1000000000}));
  ASSERT_OK(cg.SetIoMax(makedev(7, 0), kCgroupUnlimited, 1 << 20));
  EXPECT_EQ(Content(base + "/blkio/grp/blkio.throttle.read_bps_device"), "7:0 0")
      << "0 removes a rule";
  EXPECT_EQ(Content(base + "/blkio/grp/blkio.throttle.write_bps_device"), "7:0 1048576");
  ASSERT_OK_AND_ASSIGN(IoStat io, cg.GetIoStat(makedev(7, 0)));
  EXPECT_EQ(io.rbytes, 2097152u);
  EXPECT_EQ(io.wbytes, 4194304u);
  EXPECT_EQ(io.wios, 4u);
  EXPECT_EQ(io.sync_bytes, 6291456u);
  ASSERT_OK(cg.SetPidsMax(10));
  EXPECT_EQ(Content(base + "/pids/grp/pids.max"), "10");
  EXPECT_EQ(cg.PidsCurrent(), 3u);
  ASSERT_OK(cg.Freeze(true));
  EXPECT_EQ(cg.FreezerState(), "FROZEN");
}

TEST(CgroupV2Fixture, VersionAndKnobs) {
  Tree t = Copy("cgroup-v2");
  EXPECT_EQ(t.sys.mode(), CgroupMode::kV2);
  EXPECT_EQ(t.sys.VersionOf("memory"), CgroupVersion::kV2);
  EXPECT_EQ(t.sys.VersionOf("freezer"), CgroupVersion::kV2) << "cgroup.freeze is core on v2";
  auto netcls = t.sys.VersionOf("net_cls");
  ASSERT_FALSE(netcls.has_value());
  EXPECT_THAT(netcls.error().Message(), HasSubstr("v2 has no net_cls"));
  ASSERT_OK_AND_ASSIGN(Cgroup cg,
                       Cgroup::Open(t.sys, "grp", {"memory", "cpu", "io", "pids", "freezer"}));
  EXPECT_TRUE(cg.AllV2());
  std::string dir = t.root + "/sys/fs/cgroup/grp";
  ASSERT_OK(cg.SetMemoryMax(8 << 20));
  ASSERT_OK(cg.SetSwapMax(0));
  EXPECT_EQ(Content(dir + "/memory.max"), "8388608");
  EXPECT_EQ(Content(dir + "/memory.swap.max"), "0") << "v2 swap.max is swap alone";
  ASSERT_OK(cg.SetCpuWeight(300));
  EXPECT_EQ(Content(dir + "/cpu.weight"), "300");
  ASSERT_OK(cg.SetCpuMax(20000, 100000));
  EXPECT_EQ(Content(dir + "/cpu.max"), "20000 100000");
  ASSERT_OK(cg.SetIoMax(makedev(7, 0), kCgroupUnlimited, 1 << 20));
  EXPECT_EQ(Content(dir + "/io.max"), "7:0 rbps=max wbps=1048576");
  ASSERT_OK_AND_ASSIGN(IoStat io, cg.GetIoStat(makedev(7, 0)));
  EXPECT_EQ(io.wbytes, 4194304u);
  EXPECT_EQ(io.rios, 2u);
  EXPECT_FALSE(io.sync_bytes.has_value()) << "v2 does not split sync/async";
  ASSERT_OK_AND_ASSIGN(MemoryStat s, cg.MemoryStats());
  EXPECT_EQ(s.anon, 33554432u);
  ASSERT_OK_AND_ASSIGN(MemoryEvents e, cg.GetMemoryEvents());
  EXPECT_EQ(e.oom, 3u);
  EXPECT_EQ(e.oom_kill, 2u);
  ASSERT_OK_AND_ASSIGN(CpuStat cs, cg.CpuStats());
  EXPECT_EQ(cs.usage_usec, 1500000u);
  ASSERT_OK(cg.Freeze(true));
  EXPECT_EQ(Content(dir + "/cgroup.freeze"), "1");
  EXPECT_EQ(cg.FreezerState(), "FREEZING") << "cgroup.events still says frozen 0";
  ASSERT_OK(WriteFile(dir + "/cgroup.events", "populated 1\nfrozen 1\n"));
  EXPECT_EQ(cg.FreezerState(), "FROZEN");
}

TEST(CgroupV2Fixture, VersionSpecificKnobsSayAbsent) {
  Tree t = Copy("cgroup-v2");
  ASSERT_OK_AND_ASSIGN(Cgroup cg, Cgroup::Open(t.sys, "grp", {"memory", "cpu"}));
  auto per_cpu = cg.CpuUsagePerCpuNs();
  ASSERT_FALSE(per_cpu.has_value());
  EXPECT_THAT(per_cpu.error().Message(), HasSubstr("absent (v2 has no per-CPU usage)"));
  auto oom = cg.OomNotifier(/*disable_kill=*/true);
  ASSERT_FALSE(oom.has_value());
  EXPECT_THAT(oom.error().Message(), HasSubstr("v2 has no oom_kill_disable"));
  std::error_code ec;
  fs::remove(t.root + "/sys/fs/cgroup/grp/memory.swap.max", ec);
  auto swap = cg.SetSwapMax(0);
  ASSERT_FALSE(swap.has_value());
  EXPECT_THAT(swap.error().Message(), HasSubstr("memory.swap.max: absent (swap accounting off"));
}

TEST(CgroupV2Fixture, CreateEnablesBelowTheRootWhatTheRootOffers) {
  Tree t = Copy("cgroup-v2");
  std::string top = t.root + "/sys/fs/cgroup";
  // The host enabled memory at its root (as systemd does); ckc enables it in its run-scoped
  // parent only. The kernel populates a new directory with cgroup.subtree_control; a fixture
  // needs it made.
  ASSERT_OK(WriteFileAtomic(top + "/cgroup.subtree_control", "memory pids"));
  std::string run = RunScope::Current()->name();
  fs::create_directories(top + "/" + run);
  ASSERT_OK(WriteFileAtomic(top + "/" + run + "/cgroup.subtree_control", ""));
  ASSERT_OK_AND_ASSIGN(Cgroup cg, Cgroup::Create(t.sys, "made", {"memory"}));
  cg.Release();  // a fixture tree: nothing to kill, and rmdir is not a cgroup rmdir here
  EXPECT_TRUE(fs::is_directory(fmt::format("{}/{}/made", top, run)));
  EXPECT_EQ(Content(top + "/cgroup.subtree_control"), "memory pids") << "the host's root";
  EXPECT_EQ(Content(fmt::format("{}/{}/cgroup.subtree_control", top, run)), "+memory");
  EXPECT_EQ(cg.relative(), run + "/made");
}

TEST(CgroupV2Fixture, RootOfAPureV2HostIsNeverWritten) {
  Tree t = Copy("cgroup-v2");
  std::string top = t.root + "/sys/fs/cgroup";
  // hugetlb is offered (cgroup.controllers) but the host has not enabled it at its root.
  ASSERT_OK(WriteFileAtomic(top + "/cgroup.subtree_control", "memory"));
  auto cg = Cgroup::Create(t.sys, "v2", {"hugetlb"});
  ASSERT_FALSE(cg.has_value()) << "a pure v2 host's root must not be written";
  EXPECT_THAT(cg.error().Message(), HasSubstr("hugetlb is not enabled at the cgroup2 root"));
  EXPECT_EQ(Content(top + "/cgroup.subtree_control"), "memory");
  std::error_code ec;
  EXPECT_FALSE(fs::exists(fmt::format("{}/{}/v2", top, RunScope::Current()->name()), ec))
      << "nothing made above or beside the run-scoped parent";
}

TEST(CgroupHybridFixture, RootOfTheHostIsNotChanged) {
  Tree t = Copy("cgroup-v2");
  auto mountinfo = ReadFile(t.root + "/mountinfo.txt");
  ASSERT_TRUE(mountinfo.has_value());
  // The same cgroup2 tree beside a v1 memory hierarchy: hybrid.
  std::string hybrid =
      *mountinfo + "34 30 0:31 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
  CgroupSystem sys = CgroupSystem::FromLayout(DetectCgroupLayout(hybrid), t.root);
  ASSERT_EQ(sys.mode(), CgroupMode::kHybrid);
  EXPECT_EQ(sys.VersionOf("hugetlb"), CgroupVersion::kV2);
  auto cg = Cgroup::Create(sys, "hybrid", {"hugetlb"});
  ASSERT_FALSE(cg.has_value()) << "a hybrid host's cgroup2 root must not be written";
  EXPECT_THAT(cg.error().Message(), HasSubstr("hugetlb is not enabled at the cgroup2 root"));
  EXPECT_EQ(Content(t.root + "/sys/fs/cgroup/cgroup.subtree_control"), "");
}

}  // namespace
}  // namespace ckc::test

// Self-tests of the harness itself (ctest label `unit`): they check ckc, not the kernel.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "channel.h"
#include "ckc_test.h"
#include "kernel.h"
#include "process.h"
#include "result.h"
#include "results_listener.h"
#include "run_scope.h"

namespace ckc::test {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string Fixture(const std::string& name) {
  auto text = ReadFile(std::string(CKC_FIXTURES) + "/" + name);
  EXPECT_TRUE(text.has_value()) << "fixture " << name;
  return text.value_or("");
}

TEST(ErrorMessage, NamesCallArgumentAndErrno) {
  errno = ENOENT;
  Error e = ErrnoError("open", "/nonexistent").error();
  EXPECT_EQ(e.Message(), "open(`/nonexistent`): ENOENT (No such file or directory)");
}

TEST(ErrorMessage, FailureWithoutErrnoCarriesDetail) {
  Error e = Failure("parse", "x.json", "not JSON").error();
  EXPECT_EQ(e.Message(), "parse(`x.json`): not JSON");
}

TEST(ErrorMessage, OpenFileReportsThePath) {
  auto fd = OpenFile("/nonexistent/ckc", O_RDONLY);
  ASSERT_FALSE(fd.has_value());
  EXPECT_EQ(fd.error().err, ENOENT);
  EXPECT_THAT(fd.error().Message(), HasSubstr("`/nonexistent/ckc`"));
}

TEST(Matchers, FailsWithNamesTheErrno) {
  Result<int> r = ErrnoError("x");
  errno = EPERM;
  Result<int> eperm = ErrnoError("x");
  EXPECT_THAT(eperm, FailsWith(EPERM));
  ::testing::StringMatchResultListener listener;
  EXPECT_FALSE(::testing::ExplainMatchResult(FailsWith(ENOMEM), eperm, &listener));
  EXPECT_THAT(listener.str(), HasSubstr("EPERM"));
}

TEST(Spawn, ReturnsTheFunctionsExitCode) {
  ASSERT_OK_AND_ASSIGN(Child c, Spawn({}, [] { return 7; }));
  ASSERT_OK_AND_ASSIGN(ExitStatus st, c.Wait(std::chrono::seconds(10)));
  EXPECT_TRUE(st.Exited(7)) << st.Describe();
}

TEST(Spawn, WaitTimeoutKillsTheChild) {
  ASSERT_OK_AND_ASSIGN(Child c, Spawn({}, [] {
                         for (;;) ::pause();
                         return 0;
                       }));
  pid_t pid = c.pid();
  auto start = std::chrono::steady_clock::now();
  ASSERT_OK_AND_ASSIGN(ExitStatus st, c.Wait(std::chrono::milliseconds(200)));
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(st.timed_out);
  EXPECT_TRUE(st.signaled && st.signal == SIGKILL) << st.Describe();
  EXPECT_LT(took, std::chrono::seconds(5));
  EXPECT_THAT(::kill(pid, 0), SyscallFailsWith(ESRCH));  // reaped, not a zombie
}

// The harness's kill is not the kernel's: a child that merely sleeps past its wait is killed by
// Wait() itself, and KilledBy(SIGKILL) must not count that as the death a row asked for.
TEST(ExitStatus, KilledByIsFalseOnATimeout) {
  ASSERT_OK_AND_ASSIGN(Child c, Spawn({}, [] {
                         ::sleep(30);
                         return 0;
                       }));
  ASSERT_OK_AND_ASSIGN(ExitStatus st, c.Wait(std::chrono::milliseconds(50)));
  EXPECT_TRUE(st.timed_out) << st.Describe();
  EXPECT_FALSE(st.KilledBy(SIGKILL)) << st.Describe();
  EXPECT_EQ(st.Describe(), "timed out (then killed by SIGKILL)");
}

TEST(ExitStatus, KilledByCountsASignalFromElsewhere) {
  ASSERT_OK_AND_ASSIGN(Child c, Spawn({}, [] {
                         ::sleep(30);
                         return 0;
                       }));
  ASSERT_OK(c.Signal(SIGKILL));
  ASSERT_OK_AND_ASSIGN(ExitStatus st, c.Wait(std::chrono::seconds(10)));
  EXPECT_FALSE(st.timed_out);
  EXPECT_TRUE(st.KilledBy(SIGKILL)) << st.Describe();
}

TEST(Spawn, TimeoutKillsGrandchildrenToo) {
  ASSERT_OK_AND_ASSIGN(Channel ch, Channel::Create());
  ASSERT_OK_AND_ASSIGN(Child c, Spawn({}, [&] {
                         ch.BecomeChild();
                         pid_t grandchild = ::fork();
                         if (grandchild == 0) {
                           for (;;) ::pause();
                         }
                         (void)ch.Send(std::to_string(grandchild));
                         for (;;) ::pause();
                         return 0;
                       }));
  ch.BecomeParent();
  ASSERT_OK_AND_ASSIGN(std::string gc, ch.Recv(std::chrono::seconds(10)));
  ASSERT_OK_AND_ASSIGN(ExitStatus st, c.Wait(std::chrono::milliseconds(100)));
  EXPECT_TRUE(st.timed_out);
  pid_t grandchild = std::stoi(gc);
  // The grandchild was killed with the group; it may linger as a zombie of init briefly.
  bool gone = false;
  for (int i = 0; i < 200 && !gone; ++i) {
    auto stat = ReadFile(fmt::format("/proc/{}/stat", grandchild));
    gone = !stat || stat->find(") Z") != std::string::npos;
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(gone) << "grandchild " << grandchild << " survived the timeout kill";
}

TEST(Spawn, DestroyingAnUnreapedChildKillsIt) {
  pid_t pid;
  {
    ASSERT_OK_AND_ASSIGN(Child c, Spawn({}, [] {
                           for (;;) ::pause();
                           return 0;
                         }));
    pid = c.pid();
  }
  EXPECT_THAT(::kill(pid, 0), SyscallFailsWith(ESRCH));
}

TEST(Channel, HandShakeAndPeerClose) {
  ASSERT_OK_AND_ASSIGN(Channel ch, Channel::Create());
  ASSERT_OK_AND_ASSIGN(Child c, Spawn({}, [&] {
                         ch.BecomeChild();
                         if (!ch.Send("ready")) return 1;
                         return ch.Expect("go") ? 0 : 2;
                       }));
  ch.BecomeParent();
  EXPECT_THAT(ch.Expect("ready", std::chrono::seconds(10)), IsOk());
  EXPECT_THAT(ch.Send("go"), IsOk());
  ASSERT_OK_AND_ASSIGN(ExitStatus st, c.Wait(std::chrono::seconds(10)));
  EXPECT_TRUE(st.Exited(0)) << st.Describe();
  auto after = ch.Recv(std::chrono::seconds(1));
  ASSERT_FALSE(after.has_value());
  EXPECT_THAT(after.error().Message(), HasSubstr("peer closed"));
}

TEST(Channel, RecvTimesOut) {
  ASSERT_OK_AND_ASSIGN(Channel ch, Channel::Create());
  EXPECT_THAT(ch.Recv(std::chrono::milliseconds(20)), FailsWith(ETIMEDOUT));
}

TEST(CgroupMode, DetectsHybrid) {
  CgroupLayout l = DetectCgroupLayout(Fixture("mountinfo-hybrid.txt"));
  EXPECT_EQ(l.mode, CgroupMode::kHybrid);
  ASSERT_NE(l.V1Mount("memory"), nullptr);
  EXPECT_EQ(l.V1Mount("memory")->path, "/sys/fs/cgroup/memory");
  ASSERT_NE(l.V2Mount(), nullptr);
  EXPECT_EQ(l.V2Mount()->path, "/sys/fs/cgroup/unified");
}

TEST(CgroupMode, DetectsV2) {
  CgroupLayout l = DetectCgroupLayout(Fixture("mountinfo-v2.txt"));
  EXPECT_EQ(l.mode, CgroupMode::kV2);
  EXPECT_EQ(l.V1Mount("memory"), nullptr);
}

TEST(CgroupMode, DetectsV1WithCoMountedControllersAndEscapes) {
  CgroupLayout l = DetectCgroupLayout(Fixture("mountinfo-v1.txt"));
  EXPECT_EQ(l.mode, CgroupMode::kV1);
  ASSERT_NE(l.V1Mount("cpuacct"), nullptr);
  EXPECT_EQ(l.V1Mount("cpuacct")->path, "/sys/fs/cgroup/cpu,cpuacct");
  EXPECT_THAT(l.V1Mount("cpu")->controllers, ElementsAre("cpu", "cpuacct"));
  EXPECT_EQ(l.V1Mount("memory")->root, "/ckc dir");
  EXPECT_EQ(l.V2Mount(), nullptr);
}

TEST(CgroupMode, NamedHierarchyAloneIsNone) {
  EXPECT_EQ(DetectCgroupLayout(Fixture("mountinfo-none.txt")).mode, CgroupMode::kNone);
}

TEST(KernelConfig, ParsesSetAndUnsetOptions) {
  KernelConfig c = ParseKernelConfig(Fixture("config-6.12-cloud.txt"), "fixture");
  EXPECT_EQ(c.Has("CONFIG_USER_NS"), Tristate::kYes);
  EXPECT_EQ(c.Has("CONFIG_OVERLAY_FS"), Tristate::kYes);  // =m counts
  EXPECT_EQ(c.Has("CONFIG_MEMCG_V1"), Tristate::kNo);     // "is not set"
  EXPECT_EQ(c.Has("CONFIG_NOT_THERE"), Tristate::kNo);    // absent from a found config
  EXPECT_EQ(c.values.at("CONFIG_CC_VERSION_TEXT"), "\"gcc (Debian 14.2.0-16) 14.2.0\"");
  EXPECT_EQ(KernelConfig{}.Has("CONFIG_USER_NS"), Tristate::kUnknown);
}

TEST(KernelConfig, CompiledOutCountsAbsentV1OptionsAsBuiltIn) {
  KernelConfig c = ParseKernelConfig(
      "CONFIG_MEMCG=y\n# CONFIG_MEMCG_V1 is not set\n# CONFIG_VETH is not set\n", "fixture");
  EXPECT_TRUE(c.CompiledOut("CONFIG_MEMCG_V1"));
  EXPECT_TRUE(c.CompiledOut("CONFIG_VETH"));
  EXPECT_TRUE(c.CompiledOut("CONFIG_NET_CLS_CGROUP"));  // absent: not built
  EXPECT_FALSE(c.CompiledOut("CONFIG_CPUSETS_V1"));     // absent _V1: a kernel before 6.11
  EXPECT_FALSE(c.CompiledOut("CONFIG_MEMCG"));
  EXPECT_FALSE(KernelConfig{}.CompiledOut("CONFIG_VETH"));  // no config found: unknown
}

TEST(KernelConfig, ReadsGzippedConfig) {
  auto raw = ReadFile(std::string(CKC_FIXTURES) + "/config-6.12-cloud.gz");
  ASSERT_TRUE(raw.has_value());
  ASSERT_OK_AND_ASSIGN(std::string text, Gunzip(*raw, "config-6.12-cloud.gz"));
  EXPECT_EQ(text, Fixture("config-6.12-cloud.txt"));
  EXPECT_FALSE(Gunzip("not gzip", "junk").has_value());
}

TEST(KernelConfig, EnvironmentOverrideIsLoadedFirst) {
  ::setenv("CKC_KERNEL_CONFIG", (std::string(CKC_FIXTURES) + "/config-6.12-cloud.gz").c_str(), 1);
  KernelConfig c = LoadKernelConfig();
  ::unsetenv("CKC_KERNEL_CONFIG");
  EXPECT_THAT(c.source, HasSubstr("config-6.12-cloud.gz"));
  EXPECT_EQ(c.Has("CONFIG_MEMCG_V1"), Tristate::kNo);
}

TEST(Swap, ParsesMeminfoAndSwaps) {
  SwapInfo s = ParseSwap(Fixture("meminfo-swap.txt"), Fixture("swaps-zram.txt"));
  EXPECT_EQ(s.total_kib, 4194300u);
  EXPECT_EQ(s.free_kib, 4194000u);
  EXPECT_EQ(s.devices, 1);
}

TEST(Cmdline, CgroupDisableNamesControllers) {
  const char* line = "BOOT_IMAGE=/vmlinuz ro cgroup_disable=io,memory quiet";
  EXPECT_TRUE(CgroupDisabledOnCmdline(line, "memory"));
  EXPECT_TRUE(CgroupDisabledOnCmdline(line, "io"));
  EXPECT_FALSE(CgroupDisabledOnCmdline(line, "cpu"));
  EXPECT_FALSE(CgroupDisabledOnCmdline("xcgroup_disable=memory", "memory"));
  EXPECT_FALSE(CgroupDisabledOnCmdline("cgroup_disable=memoryx", "memory"));
}

TEST(Cmdline, OptionValuesInCommaLists) {
  const char* line = "ro swapaccount=0 cgroup.memory=nosocket,nokmem -- swapaccount=1";
  EXPECT_TRUE(CmdlineHas(line, "swapaccount", "0"));
  EXPECT_FALSE(CmdlineHas(line, "swapaccount", "1")) << "after `--` the words are init's";
  EXPECT_TRUE(CmdlineHas(line, "cgroup.memory", "nokmem"));
  EXPECT_TRUE(CmdlineHas(line, "cgroup.memory", "nosocket"));
  EXPECT_FALSE(CmdlineHas(line, "cgroup.memory", "nobpf"));
  EXPECT_FALSE(CmdlineHas("xswapaccount=0 swapaccount0", "swapaccount", "0"));
}

TEST(NamespaceQuota, OnlyNamespaceEnospcIsAQuestion) {
  // Without ENOSPC, or without a namespace-making call, a failure never turns into a skip.
  EXPECT_EQ(NamespaceQuotaReason("clone3(`flags=0x40001000`): EPERM (Operation not permitted)"),
            std::nullopt);
  EXPECT_EQ(NamespaceQuotaReason("write(`/x/cpuset.cpus`): ENOSPC (No space left on device)"),
            std::nullopt);
}

TEST(SkipReason, SplitsReasonFromDetails) {
  SkipReason s = ParseSkipMessage("needs:root (euid 65534, CAP_SYS_ADMIN missing)");
  EXPECT_EQ(s.reason, "needs:root");
  EXPECT_EQ(s.details, "(euid 65534, CAP_SYS_ADMIN missing)");
  EXPECT_EQ(ParseSkipMessage("config:CONFIG_MEMCG_V1").reason, "config:CONFIG_MEMCG_V1");
  EXPECT_EQ(ParseSkipMessage("no reason given").reason, "unspecified");
}

// "died: removed state directory ..." for each sweep of run `id` logged after byte `mark` of the
// sweep log, by whichever run swept it.
std::vector<std::string> SweptSince(size_t mark, const std::string& id) {
  std::string log = ReadFile(SweepLogPath()).value_or("");
  std::vector<std::string> lines;
  for (const auto& e : ParseSweepLog(log.substr(std::min(mark, log.size())))) {
    if (e.run == id) lines.push_back(e.ended + ": " + e.what);
  }
  return lines;
}

size_t SweepLogSize() { return ReadFile(SweepLogPath()).value_or("").size(); }

TEST(RunScope, DeadRunLeftoversAreSwept) {
  // A run directory nobody holds the lock of is a dead run's; its sweep is logged as a death,
  // whoever sweeps it (a concurrent run's start-up sweep may come first).
  std::string dead = RunStateBase() + "/ckc-deadbeef",
              making = RunStateBase() + "/.making-deadbeef";
  size_t mark = SweepLogSize();
  ASSERT_OK(MakeDirs(making + "/sub"));
  ASSERT_OK(WriteFileAtomic(making + "/lock", ""));
  ASSERT_EQ(::rename(making.c_str(), dead.c_str()), 0) << dead;
  EXPECT_FALSE(RunIsAlive("deadbeef"));
  (void)SweepDeadRuns();
  EXPECT_FALSE(std::filesystem::exists(dead));
  EXPECT_THAT(SweptSince(mark, "deadbeef"),
              ::testing::Contains("died: removed state directory " + dead + " (2 entries)"));
  ASSERT_NE(RunScope::Current(), nullptr);
  EXPECT_TRUE(RunIsAlive(RunScope::Current()->id()));  // this process holds its own run
}

TEST(RunScope, StaleHalfMadeRunRecordIsSwept) {
  // A run killed between creating its record and linking it into place leaves
  // .making-<id>.lock (an older build: a .making-<id> directory); a fresh one may belong to a
  // run being made right now and is left alone.
  std::string stale = RunLockDir() + "/.making-0ld.lock",
              fresh = RunLockDir() + "/.making-n3w.lock";
  std::string legacy = RunStateBase() + "/.making-0ld";
  ASSERT_OK(WriteFileAtomic(stale, ""));
  ASSERT_OK(WriteFileAtomic(fresh, ""));
  ASSERT_OK(MakeDirs(legacy));
  const timespec old_times[2] = {{::time(nullptr) - 120, 0}, {::time(nullptr) - 120, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, stale.c_str(), old_times, 0), 0);
  ASSERT_EQ(::utimensat(AT_FDCWD, legacy.c_str(), old_times, 0), 0);
  (void)SweepDeadRuns();
  EXPECT_FALSE(std::filesystem::exists(stale));
  EXPECT_FALSE(std::filesystem::exists(legacy));
  EXPECT_TRUE(std::filesystem::exists(fresh));
  std::filesystem::remove(fresh);
}

TEST(RunScope, LiveRunOfAnotherTmpdirIsNotSwept) {
  // Liveness comes from the record in RunLockDir(), not from this process's $TMPDIR: a run
  // started elsewhere stays alive (and its directory stays) until its owner dies; then the sweep
  // finds its directory through the record and logs the death.
  std::string other = RunStateBase() + "-other-tmpdir";
  ASSERT_OK(MakeDirs(other, 0700));
  ASSERT_OK_AND_ASSIGN(Channel ch, Channel::Create());
  ASSERT_OK_AND_ASSIGN(Child child, Spawn({}, [&]() -> int {
                         ch.BecomeChild();
                         ::setenv("TMPDIR", other.c_str(), 1);
                         auto run = RunScope::Start();
                         if (!run || !ch.Send((*run)->id() + " " + (*run)->dir())) return 1;
                         for (;;) ::pause();
                       }));
  ch.BecomeParent();
  ASSERT_OK_AND_ASSIGN(std::string msg, ch.Recv(10s));
  std::string id = msg.substr(0, msg.find(' ')), dir = msg.substr(msg.find(' ') + 1);
  EXPECT_THAT(dir, ::testing::StartsWith(other + "/ckc." + std::to_string(::geteuid())));
  EXPECT_TRUE(RunIsAlive(id));
  (void)SweepDeadRuns();
  EXPECT_TRUE(std::filesystem::exists(dir)) << "a live run's directory was swept";
  ASSERT_OK(child.Signal(SIGKILL));
  ASSERT_OK_AND_ASSIGN(ExitStatus st, child.Wait(10s));
  EXPECT_TRUE(st.KilledBy(SIGKILL)) << st.Describe();
  EXPECT_FALSE(RunIsAlive(id));
  size_t mark = SweepLogSize();
  (void)SweepDeadRuns();
  EXPECT_FALSE(std::filesystem::exists(dir));
  EXPECT_FALSE(std::filesystem::exists(RunLockDir() + "/" + id + ".lock"));
  EXPECT_THAT(SweptSince(mark, id),
              ::testing::Contains(HasSubstr("died: removed state directory " + dir)));
  std::filesystem::remove_all(other);
}

TEST(RunScope, RecordSaysHowTheRunEnded) {
  // A record left with state `ended` is a run whose Close() could not remove everything: its
  // sweep is a failure of that run; any other state is a death.
  EXPECT_EQ(HowRunEnded(ParseRunRecord("1a2b3c4d",
                                       "dir /tmp/ckc.0/ckc-1a2b3c4d\npid 7\nstate "
                                       "ended\n")),
            "normally");
  EXPECT_EQ(HowRunEnded(ParseRunRecord("1a2b3c4d", "dir /x\npid 7\nstate running\n")), "died");
  EXPECT_EQ(HowRunEnded(ParseRunRecord("1a2b3c4d", "")), "died");
  EXPECT_EQ(ParseRunRecord("1a2b3c4d", "dir /tmp/a b/ckc-1a2b3c4d\n").dir, "/tmp/a b/ckc-1a2b3c4d");
}

TEST(RunScope, SweepLogLinesRoundTrip) {
  SweepEntry e{"2025-01-01T00:00:00Z", "5e6f7a8b", "1a2b3c4d", "died",
               "removed cgroup /sys/fs/cgroup/freezer/ckc-1a2b3c4d (2 groups,\tfrozen)"};
  std::string text = FormatSweepEntry(e) + "a torn line\n" + FormatSweepEntry(e);
  std::vector<SweepEntry> back = ParseSweepLog(text);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].what, "removed cgroup /sys/fs/cgroup/freezer/ckc-1a2b3c4d (2 groups, frozen)");
  EXPECT_EQ(back[0].Describe(),
            "run 1a2b3c4d (died), swept by run 5e6f7a8b: removed cgroup "
            "/sys/fs/cgroup/freezer/ckc-1a2b3c4d (2 groups, frozen)");
}

TEST(RunScope, RunIdIsFoundInPaths) {
  EXPECT_EQ(RunIdInPath("/tmp/ckc.0/ckc-1a2b3c4d/Io.Weight/disk.img"), "1a2b3c4d");
  EXPECT_EQ(RunIdInPath("/sys/fs/cgroup/freezer/ckc-0badf00d"), "0badf00d");
  EXPECT_EQ(RunIdInPath("/tmp/ckc-cat-00xzdu6o/x"), std::nullopt);
  EXPECT_EQ(RunIdInPath("/tmp/ckc.0"), std::nullopt);
}

TEST(RunScope, DeviceNotMadeByCkcIsLeftAlone) {
  // zram: a recorded sysfs inode that does not match is someone else's device now.
  DeviceRecord zram{"zram0", {{"ino", "1"}, {"disksize", "268435456"}}};
  if (std::filesystem::exists("/sys/block/zram0")) {
    ASSERT_OK_AND_ASSIGN(std::string what, UndoDevice(zram));
    EXPECT_THAT(what, HasSubstr("left alone"));
  }
  // loop: attached to another file than the recorded one.
  DeviceRecord loop{"loop0", {{"backing", "/nonexistent/ckc-0badf00d/disk.img"}}};
  if (std::filesystem::exists("/sys/block/loop0/loop/backing_file")) {
    ASSERT_OK_AND_ASSIGN(std::string what, UndoDevice(loop));
    EXPECT_THAT(what, HasSubstr("left alone"));
  }
  EXPECT_FALSE(UndoDevice({"sda", {}}).has_value());
}

}  // namespace
}  // namespace ckc::test

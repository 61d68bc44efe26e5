// Self-tests of the host guard's picture (guard.h): normalisation against fixture files, the
// comparison's sentences, the snapshot's JSON, the sweep verdict; and, on a copy of the live
// host's facts changed on purpose, what each kind of change reads like in the guard's output.
//
// CKC_GUARD_FAKE_CHANGE=<kind>[,<kind>...] limits GuardFake.EachKindIsNamed to those kinds
// (default: all of kFakeKinds). It changes only the copy the second picture is made from, never
// the host, and only this test reads it.
#include <linux/if.h>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <sstream>

#include "ckc_test.h"
#include "fd.h"
#include "guard.h"
#include "loopdev.h"
#include "run_scope.h"

namespace ckc::test {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::string Fixture(const std::string& name) {
  auto text = ReadFile(std::string(CKC_FIXTURES) + "/" + name);
  EXPECT_TRUE(text.has_value()) << "fixture " << name;
  return text.value_or("");
}

HostPicture WithMounts(const std::string& mountinfo) {
  HostFacts f;
  f.mountinfo = mountinfo;
  return MakePicture(f);
}

TEST(GuardPicture, MountIdsDevicesAndPeerGroupsAreNoise) {
  EXPECT_THAT(ComparePictures(WithMounts(Fixture("guard/mountinfo-before.txt")),
                              WithMounts(Fixture("guard/mountinfo-renumbered.txt"))),
              IsEmpty());
}

TEST(GuardPicture, MountChangesAreNamedLineByLine) {
  EXPECT_THAT(
      ComparePictures(WithMounts(Fixture("guard/mountinfo-before.txt")),
                      WithMounts(Fixture("guard/mountinfo-changed.txt"))),
      ElementsAre("mount /: ext4 /dev/vda / rw,relatime rw,discard shared -> ext4 /dev/vda / "
                  "rw,relatime rw,discard private",
                  "mount /dev/shm: tmpfs tmpfs / rw,relatime rw,size=24683584k shared -> tmpfs "
                  "tmpfs / ro,relatime rw,size=24683584k shared",
                  "mount removed: /mnt/a (2) tmpfs a2 / rw,relatime rw private",
                  "mount added: /tmp/x tmpfs tmpfs / rw,nosuid,relatime rw,size=4k shared"));
}

TEST(GuardPicture, SwapUsageIsNoise) {
  HostFacts a, b;
  a.swaps = Fixture("swaps-zram.txt");
  b.swaps = Fixture("guard/swaps-used-changed.txt");
  EXPECT_THAT(ComparePictures(MakePicture(a), MakePicture(b)), IsEmpty());
  EXPECT_EQ(MakePicture(a)["swap"]["/dev/zram0"], "partition 4194300 KiB, priority 100");
}

TEST(GuardPicture, DetachedLoopDevicesAreTheKernelsPool) {
  // LOOP_CTL_GET_FREE may add loop8; only attachments and schedulers are changes.
  HostFacts a, b;
  a.loops = {{"loop0", "", "none"}};
  b.loops = {{"loop0", "", "none"}, {"loop8", "", "none"}};
  EXPECT_THAT(ComparePictures(MakePicture(a), MakePicture(b)), IsEmpty());
  b.loops[1].backing = "/tmp/ckc.0/ckc-1a2b3c4d/Io.Weight/disk.img";
  b.loops[0].scheduler = "bfq";
  EXPECT_THAT(ComparePictures(MakePicture(a), MakePicture(b)),
              ElementsAre("loop loop0: detached, scheduler none -> detached, scheduler bfq",
                          "loop added: loop8 backing /tmp/ckc.0/ckc-1a2b3c4d/Io.Weight/disk.img, "
                          "scheduler none"));
}

TEST(GuardPicture, LinkFlagsLeaveCarrierStateOut) {
  EXPECT_EQ(LinkFlagNames(IFF_UP | IFF_LOOPBACK | IFF_RUNNING | IFF_LOWER_UP), "up,loopback");
  EXPECT_EQ(LinkFlagNames(0), "none");
}

TEST(GuardPicture, JsonRoundTripsAndOlderSnapshotsAreRefused) {
  HostFacts f;
  f.hostname = "h";
  f.sysctls = {{"vm.swappiness", "60"}};
  f.mountinfo = Fixture("guard/mountinfo-before.txt");
  HostPicture p = MakePicture(f);
  ASSERT_OK_AND_ASSIGN(HostPicture back, PictureFromJson(PictureToJson(p)));
  EXPECT_EQ(back, p);
  nlohmann::json old = {
      {"hostname", "h"}, {"mountinfo", "..."}, {"leftovers", nlohmann::json::array()}};
  auto refused = PictureFromJson(old);
  ASSERT_FALSE(refused.has_value());
  EXPECT_THAT(refused.error().Message(), ::testing::HasSubstr("run HostGuard.Snapshot again"));
}

TEST(GuardSweeps, RunThatEndedNormallyFailsDeathIsReported) {
  SweepVerdict v = JudgeSweeps(ParseSweepLog(Fixture("guard/sweep.log")));
  EXPECT_THAT(v.failures, ElementsAre("run 9d8c7b6a (ended normally), swept by run 0c0ffee0: "
                                      "removed cgroup /sys/fs/cgroup/memory/ckc-9d8c7b6a (1 "
                                      "group, 1 process (sleep))"));
  EXPECT_EQ(v.reports.size(), 2u);
}

TEST(DeviceRecord, SweepDetachesARecordedLoopAndRestoresItsScheduler) {
  // What a sweep does to the loop device of a run killed while a child still held it open:
  // the scheduler it switched goes back, and the device detaches once the last opener is gone.
  if (::geteuid() != 0 || !std::filesystem::exists("/dev/loop-control"))
    GTEST_SKIP() << "needs:root (a loop device)";
  ASSERT_NE(RunScope::Current(), nullptr);
  ASSERT_OK_AND_ASSIGN(LoopDevice loop,
                       LoopDevice::Create(RunScope::Current()->dir() + "/disk.img", 4 << 20));
  std::string name = loop.path().substr(5), sys = "/sys/block/" + name;
  ASSERT_OK_AND_ASSIGN(std::string before, ReadFile(sys + "/queue/scheduler"));
  std::string other = before.find("[none]") != std::string::npos ? "mq-deadline" : "none";
  ASSERT_OK(loop.SetScheduler(other));
  DeviceRecord record;
  for (const auto& r : RecordedRuns()) {
    for (const auto& d : r.devices) {
      if (r.id == RunScope::Current()->id() && d.device == name) record = d;
    }
  }
  ASSERT_EQ(record.device, name) << "the device was not recorded with the run";
  EXPECT_THAT(record.fields["backing"], ::testing::EndsWith("/disk.img"));
  ASSERT_OK_AND_ASSIGN(std::string done, UndoDevice(record));
  EXPECT_THAT(done, ::testing::HasSubstr("restored " + name + " scheduler"));
  EXPECT_THAT(done, ::testing::HasSubstr("detached " + name + " (backing "));
  EXPECT_EQ(ReadFile(sys + "/queue/scheduler").value_or(""), before);
  loop.Detach();  // the last opener: autoclear finishes the detach
  EXPECT_FALSE(std::filesystem::exists(sys + "/loop/backing_file")) << name << " still attached";
  ASSERT_OK_AND_ASSIGN(std::string again, UndoDevice(record));
  EXPECT_EQ(again, "") << "nothing is left to undo";
}

// --- deliberate changes to a copy of the live host's facts -----------------------------------

const std::vector<std::string> kFakeKinds = {"hostname",
                                             "sysctl",
                                             "swap",
                                             "zram",
                                             "loop",
                                             "loop-scheduler",
                                             "subtree_control",
                                             "cgroup",
                                             "process",
                                             "leftover",
                                             "link",
                                             "link-flags",
                                             "mtu",
                                             "address",
                                             "route",
                                             "mount",
                                             "mount-options",
                                             "mount-renumbered",
                                             "sweep"};

// Rewrites every line of `mountinfo` with `fn` applied to its words.
std::string EachMount(const std::string& mountinfo,
                      const std::function<void(std::vector<std::string>&)>& fn) {
  std::string out;
  std::istringstream in(mountinfo);
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> w;
    std::istringstream words(line);
    for (std::string x; words >> x;) w.push_back(x);
    fn(w);
    for (size_t i = 0; i < w.size(); ++i) out += (i ? " " : "") + w[i];
    out += "\n";
  }
  return out;
}

std::string Bumped(const std::string& word) {
  auto colon = word.find(':');
  if (colon == std::string::npos) return std::to_string(std::stoll(word) + 1000);
  if (!std::isdigit(static_cast<unsigned char>(word[colon + 1]))) return word;
  return word.substr(0, colon + 1) + std::to_string(std::stoll(word.substr(colon + 1)) + 1000);
}

// Applies the change `kind` to `f`; false if this host has nothing to change of that kind.
bool FakeChange(const std::string& kind, HostFacts& f) {
  const std::string ghost = "ckc-0badf00d";
  if (kind == "hostname") f.hostname += "-changed";
  if (kind == "sysctl")
    f.sysctls["vm.swappiness"] = f.sysctls["vm.swappiness"] == "10" ? "11" : "10";
  if (kind == "swap")
    f.swaps += "/dev/zram7                              partition\t262140\t0\t-2\n";
  if (kind == "zram") f.zram.push_back({"zram7", "268435456", "lzo-rle"});
  if (kind == "loop")
    f.loops.push_back({"loop250", "/tmp/ckc.0/" + ghost + "/Io.Weight/disk.img", "bfq"});
  if (kind == "loop-scheduler") {
    if (f.loops.empty()) return false;
    f.loops[0].scheduler = f.loops[0].scheduler == "bfq" ? "none" : "bfq";
  }
  if (kind == "subtree_control") {
    if (f.subtree_control.empty()) return false;
    std::string& v = f.subtree_control.begin()->second;
    v = v.empty() ? "memory" : v + " memory";
  }
  if (kind == "cgroup") f.ckc_cgroups["/sys/fs/cgroup/freezer/" + ghost] = "2 groups, frozen";
  if (kind == "process")
    f.ckc_cgroups["/sys/fs/cgroup/pids/" + ghost] = "1 group, 1 process (ckc-suite-cgrou)";
  if (kind == "leftover") f.ckc_leftovers["/tmp/ckc.0/" + ghost] = "state directory of a dead run";
  if (kind == "link")
    f.links.push_back({"ckc0", 99, IFF_UP | IFF_BROADCAST | IFF_MULTICAST, 1500, "veth"});
  if (kind == "link-flags" || kind == "mtu") {
    if (f.links.empty()) return false;
    LinkFact& l = f.links.back();
    if (kind == "link-flags") l.flags ^= IFF_PROMISC;
    if (kind == "mtu") l.mtu -= 100;
  }
  if (kind == "address") f.addresses.push_back("lo inet 10.255.0.1/32");
  if (kind == "route") f.routes.push_back("inet 10.255.0.0/24 dev#1 table 254");
  if (kind == "mount")
    f.mountinfo += "9999 27 0:999 / /tmp/x rw,relatime shared:999 - tmpfs tmpfs rw,size=4k\n";
  if (kind == "mount-options") {
    f.mountinfo = EachMount(f.mountinfo, [](std::vector<std::string>& w) {
      if (w.size() > 5 && w[4] == "/" && w[5].starts_with("rw")) w[5].replace(0, 2, "ro");
    });
  }
  if (kind == "mount-renumbered") {
    f.mountinfo = EachMount(f.mountinfo, [](std::vector<std::string>& w) {
      if (w.size() < 6) return;
      w[0] = Bumped(w[0]);
      w[1] = Bumped(w[1]);
      w[2] = Bumped(w[2]);
      for (size_t i = 6; i < w.size() && w[i] != "-"; ++i) w[i] = Bumped(w[i]);
    });
  }
  return true;
}

std::vector<std::string> FakeKinds() {
  const char* env = std::getenv("CKC_GUARD_FAKE_CHANGE");
  if (!env || !*env) return kFakeKinds;
  std::vector<std::string> out;
  std::istringstream in(env);
  for (std::string k; std::getline(in, k, ',');) out.push_back(k);
  return out;
}

TEST(GuardFake, EachKindIsNamed) {
  ASSERT_OK_AND_ASSIGN(HostFacts facts, ReadHostFacts());
  HostPicture before = MakePicture(facts);
  for (const std::string& kind : FakeKinds()) {
    SCOPED_TRACE("CKC_GUARD_FAKE_CHANGE=" + kind);
    ASSERT_TRUE(std::ranges::find(kFakeKinds, kind) != kFakeKinds.end()) << "unknown kind";
    if (kind == "sweep") {
      SweepEntry e{
          "2025-01-01T00:00:00Z", "5e6f7a8b", "0badf00d", "normally",
          "removed cgroup /sys/fs/cgroup/memory/ckc-0badf00d (2 groups, 1 process (sleep))"};
      SweepVerdict v = JudgeSweeps({e});
      ASSERT_EQ(v.failures.size(), 1u);
      std::printf("[%s] runs that ended normally left something behind:\n  %s\n", kind.c_str(),
                  v.failures[0].c_str());
      continue;
    }
    HostFacts changed = facts;
    if (!FakeChange(kind, changed)) {
      std::printf("[%s] nothing of this kind on this host to change\n", kind.c_str());
      continue;
    }
    std::vector<std::string> diff = ComparePictures(before, MakePicture(changed));
    if (kind == "mount-renumbered") {
      EXPECT_THAT(diff, IsEmpty()) << "renumbered mounts are the same mounts";
      std::printf("[%s] no difference (mount IDs, devices, peer groups are noise)\n", kind.c_str());
      continue;
    }
    EXPECT_EQ(diff.size(), 1u) << DescribeChanges(diff);
    std::printf("[%s] %s\n", kind.c_str(), DescribeChanges(diff).c_str());
  }
}

}  // namespace
}  // namespace ckc::test

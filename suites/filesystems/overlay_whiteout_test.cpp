// Overlay rows about deletion and directories: whiteouts, opaque directories, directory renames
// and several lower layers (seed F "Union filesystems"; overlayfs.rst "whiteouts and opaque
// directories", "Renaming directories", "Multiple lower layers").
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "capabilities.h"
#include "ckc_test.h"
#include "overlay.h"
#include "ovl_support.h"

namespace ckc::test {
namespace {

// The seed's sequence up to `rm -f ro.txt`, then a look at every layer.
int RemoveLowerFile(Channel& ch, const OverlayMount& ovl) {
  Observe(ch, "rm", Outcome(::unlink((ovl.merged() + "/ro.txt").c_str())));
  Observe(ch, "merged", List(ovl.merged()));
  Observe(ch, "lower", List(ovl.lower()));
  Observe(ch, "upper", List(ovl.upper()));
  Observe(ch, "upper-ro-kind", UpperKindOf(ovl.upper() + "/ro.txt"));
  return 0;
}

TEST(Overlay, WhiteoutOnDelete) {
  // Source: F "Union filesystems" (rm -f ro.txt; ls ~/overlay-upper still lists ro.txt);
  // overlayfs.rst "whiteouts and opaque directories": a whiteout is a 0/0 character device.
  CKC_BEHAVIOUR("ovl.whiteout-on-delete", "F",
                "removing a lower file through the merged view hides it there by putting a 0/0 "
                "character-device whiteout in upper, while the lower file stays");
  CKC_REQUIRE(Root(), Config("CONFIG_OVERLAY_FS"), NamespaceQuota(CLONE_NEWNS));
  std::string base = TestDir() + "/ovl";
  ASSERT_OK_AND_ASSIGN(ChildResult r, InPrivateMountNs([&](Channel& ch) {
                         CKC_CHILD_TRY(ovl, MountSeeded(base));
                         return RemoveLowerFile(ch, ovl);
                       }));
  ASSERT_TRUE(r.status.Exited(0)) << r.Describe();
  Observations seen = Parse(r);
  EXPECT_EQ(seen["rm"], "ok");
  EXPECT_EQ(seen["merged"], "rw.txt") << "merged must no longer list ro.txt";
  EXPECT_EQ(seen["lower"], "ro.txt") << "lower still holds the file";
  EXPECT_EQ(seen["upper"], "ro.txt rw.txt") << "upper holds the whiteout";
  EXPECT_EQ(seen["upper-ro-kind"], "whiteout (char 0/0)");
}

// Opens upper/ro.txt through a directory fd (so only the whiteout's own mode is checked, not
// the run directory's) as uid/gid 65534 with no capabilities; returns "ok" or "!ERRNO".
std::string OpenAsNobody(int upper_fd, const char* name) {
  auto child = Spawn({}, [&] {
    if (!SwitchUser(kNobody, kNobody, /*keep_caps=*/false)) return 100;
    int fd = ::openat(upper_fd, name, O_RDONLY);
    return fd >= 0 ? 0 : errno;
  });
  if (!child) return "!spawn";
  auto st = child->Wait(10s);
  if (!st || !st->exited || st->code == 100) return "!setup";
  return st->code == 0 ? "ok" : "!" + ErrnoName(st->code);
}

TEST(Overlay, WhiteoutUnreadable) {
  // Source: F "Union filesystems" (cat ~/overlay-upper/ro.txt: Permission denied). The whiteout
  // is a mode-0000 char device 0/0: an unprivileged reader fails the permission check (EACCES);
  // root passes it (CAP_DAC_OVERRIDE) and the open fails because no driver has 0/0 (ENXIO).
  CKC_BEHAVIOUR("ovl.whiteout-unreadable", "F",
                "opening a whiteout fails: an unprivileged reader gets EACCES, root gets ENXIO");
  CKC_REQUIRE(Root(), Config("CONFIG_OVERLAY_FS"), NamespaceQuota(CLONE_NEWNS));
  std::string base = TestDir() + "/ovl";
  ASSERT_OK_AND_ASSIGN(
      ChildResult r, InPrivateMountNs([&](Channel& ch) {
        CKC_CHILD_TRY(ovl, MountSeeded(base));
        CKC_CHILD_CHECK(::unlink((ovl.merged() + "/ro.txt").c_str()) == 0
                            ? Status{}
                            : ErrnoError("unlink", "merged/ro.txt"));
        Observe(ch, "kind", UpperKindOf(ovl.upper() + "/ro.txt"));
        Observe(ch, "root",
                Outcome(::open((ovl.upper() + "/ro.txt").c_str(), O_RDONLY | O_CLOEXEC)));
        CKC_CHILD_TRY(upper, OpenFile(ovl.upper(), O_RDONLY | O_DIRECTORY));
        Observe(ch, "nobody", OpenAsNobody(upper.get(), "ro.txt"));
        Observe(ch, "nobody-control", OpenAsNobody(upper.get(), "rw.txt"));
        return 0;
      }));
  ASSERT_TRUE(r.status.Exited(0)) << r.Describe();
  Observations seen = Parse(r);
  RecordProperty("whiteout_open_as_root", seen["root"]);
  RecordProperty("whiteout_open_as_nobody", seen["nobody"]);
  CKC_ASSERT_SETUP(seen["kind"] == "whiteout (char 0/0)")
      << "rm in merged leaves a whiteout in upper; saw " << seen["kind"];
  CKC_ASSERT_SETUP(seen["nobody-control"] == "ok")
      << "uid 65534 opens upper/rw.txt (the control); saw " << seen["nobody-control"];
  EXPECT_EQ(seen["nobody"], "!EACCES") << "unprivileged reader of the whiteout (as in the seed)";
  EXPECT_EQ(seen["root"], "!ENXIO") << "root reading the whiteout (no device 0/0)";
}

TEST(Overlay, OpaqueDir) {
  // Source: overlayfs.rst "whiteouts and opaque directories": a directory removed and made
  // again in merged is opaque (overlay.opaque = "y") and hides the lower directory's entries.
  CKC_BEHAVIOUR("ovl.opaque-dir", "K",
                "after a lower directory is deleted and recreated through the merged view, upper "
                "holds it as an opaque directory, so the old lower entries no longer show");
  CKC_REQUIRE(Root(), Config("CONFIG_OVERLAY_FS"), NamespaceQuota(CLONE_NEWNS),
              Config("CONFIG_TMPFS_XATTR"));
  std::string base = TestDir() + "/ovl";
  ASSERT_OK_AND_ASSIGN(ChildResult r, InPrivateMountNs([&](Channel& ch) {
                         CKC_CHILD_TRY(ovl, OverlayMount::Create(base));
                         CKC_CHILD_CHECK(MakeDirs(ovl.lower() + "/d"));
                         CKC_CHILD_CHECK(PutFile(ovl.lower() + "/d/old.txt", "old\n"));
                         CKC_CHILD_CHECK(ovl.Mount());
                         std::string d = ovl.merged() + "/d";
                         Observe(ch, "rm-old", Outcome(::unlink((d + "/old.txt").c_str())));
                         Observe(ch, "rmdir", Outcome(::rmdir(d.c_str())));
                         Observe(ch, "mkdir", Outcome(::mkdir(d.c_str(), 0755)));
                         CKC_CHILD_CHECK(PutFile(d + "/new.txt", "new\n"));
                         Observe(ch, "merged-d", List(d));
                         Observe(ch, "lower-d", List(ovl.lower() + "/d"));
                         Observe(ch, "upper-d-kind", UpperKindOf(ovl.upper() + "/d"));
                         return 0;
                       }));
  ASSERT_TRUE(r.status.Exited(0)) << r.Describe();
  Observations seen = Parse(r);
  EXPECT_EQ(seen["rm-old"], "ok");
  EXPECT_EQ(seen["rmdir"], "ok");
  EXPECT_EQ(seen["mkdir"], "ok");
  EXPECT_EQ(seen["merged-d"], "new.txt") << "the new directory must hide old.txt of lower";
  EXPECT_EQ(seen["lower-d"], "old.txt") << "lower keeps its directory";
  EXPECT_EQ(seen["upper-d-kind"], "directory opaque");
}

TEST(Overlay, DirRename) {
  // Source: overlayfs.rst "Renaming directories": with redirect_dir=off, rename(2) of a lower
  // (merged) directory fails with EXDEV; with redirect_dir=on it succeeds and the upper
  // directory records where it came from in overlay.redirect.
  CKC_BEHAVIOUR("ovl.dir-rename", "K",
                "rename() of a directory that comes from lower is refused with EXDEV under "
                "redirect_dir=off, and under redirect_dir=on it works, the upper copy recording a "
                "redirect to the old name");
  CKC_REQUIRE(Root(), Config("CONFIG_OVERLAY_FS"), NamespaceQuota(CLONE_NEWNS),
              Config("CONFIG_TMPFS_XATTR"));
  std::string base = TestDir() + "/ovl";
  ASSERT_OK_AND_ASSIGN(ChildResult r, InPrivateMountNs([&](Channel& ch) {
                         CKC_CHILD_TRY(ovl, OverlayMount::Create(base));
                         CKC_CHILD_CHECK(MakeDirs(ovl.lower() + "/a"));
                         CKC_CHILD_CHECK(PutFile(ovl.lower() + "/a/f.txt", "in a\n"));
                         std::string a = ovl.merged() + "/a", b = ovl.merged() + "/b";
                         CKC_CHILD_CHECK(ovl.Mount({.options = {{"redirect_dir", "off"}}}));
                         Observe(ch, "rename-off", Outcome(::rename(a.c_str(), b.c_str())));
                         CKC_CHILD_CHECK(ovl.Unmount());
                         CKC_CHILD_CHECK(ovl.Mount({.options = {{"redirect_dir", "on"}}}));
                         Observe(ch, "rename-on", Outcome(::rename(a.c_str(), b.c_str())));
                         Observe(ch, "merged", List(ovl.merged()));
                         Observe(ch, "b-f", ReadOr(b + "/f.txt"));
                         Observe(ch, "upper-b", UpperKindOf(ovl.upper() + "/b"));
                         Observe(ch, "upper-a", UpperKindOf(ovl.upper() + "/a"));
                         Observe(ch, "lower", List(ovl.lower()));
                         return 0;
                       }));
  ASSERT_TRUE(r.status.Exited(0)) << r.Describe();
  Observations seen = Parse(r);
  EXPECT_EQ(seen["rename-off"], "!EXDEV") << "redirect_dir=off";
  EXPECT_EQ(seen["rename-on"], "ok") << "redirect_dir=on";
  EXPECT_EQ(seen["merged"], "b");
  EXPECT_EQ(seen["b-f"], "in a\n") << "the renamed directory still shows lower's contents";
  EXPECT_THAT(seen["upper-b"], ::testing::MatchesRegex("directory redirect=/?a"));
  EXPECT_EQ(seen["upper-a"], "whiteout (char 0/0)") << "the old name is whited out";
  EXPECT_EQ(seen["lower"], "a") << "lower is untouched";
}

TEST(Overlay, MultiLower) {
  // Source: overlayfs.rst "Multiple lower layers": lowerdir=/lower1:/lower2:/lower3, the
  // leftmost is the top-most; a name in several lowers shows the leftmost one.
  CKC_BEHAVIOUR("ovl.multi-lower", "K",
                "with more than one lower layer, a name found in several of them is taken from the "
                "leftmost lowerdir");
  CKC_REQUIRE(Root(), Config("CONFIG_OVERLAY_FS"), NamespaceQuota(CLONE_NEWNS));
  std::string base = TestDir() + "/ovl";
  ASSERT_OK_AND_ASSIGN(ChildResult r, InPrivateMountNs([&](Channel& ch) {
                         CKC_CHILD_TRY(ovl, OverlayMount::Create(base, 3));
                         CKC_CHILD_CHECK(PutFile(ovl.lower(0) + "/x.txt", "lower0\n"));
                         CKC_CHILD_CHECK(PutFile(ovl.lower(1) + "/x.txt", "lower1\n"));
                         CKC_CHILD_CHECK(PutFile(ovl.lower(2) + "/x.txt", "lower2\n"));
                         CKC_CHILD_CHECK(PutFile(ovl.lower(1) + "/y.txt", "lower1\n"));
                         CKC_CHILD_CHECK(PutFile(ovl.lower(2) + "/y.txt", "lower2\n"));
                         CKC_CHILD_CHECK(PutFile(ovl.lower(2) + "/z.txt", "lower2\n"));
                         CKC_CHILD_CHECK(ovl.Mount());
                         Observe(ch, "ls", List(ovl.merged()));
                         for (const char* n : {"x", "y", "z"})
                           Observe(ch, n, ReadOr(fmt::format("{}/{}.txt", ovl.merged(), n)));
                         return 0;
                       }));
  ASSERT_TRUE(r.status.Exited(0)) << r.Describe();
  Observations seen = Parse(r);
  EXPECT_EQ(seen["ls"], "x.txt y.txt z.txt");
  EXPECT_EQ(seen["x"], "lower0\n") << "x.txt is in all three lowers: the leftmost must win";
  EXPECT_EQ(seen["y"], "lower1\n") << "y.txt is in lower1 and lower2: lower1 must win";
  EXPECT_EQ(seen["z"], "lower2\n");
}

}  // namespace
}  // namespace ckc::test

// Overlay rows, content side: merged view, copy-up, whiteouts, opaque directories, renames and
// several lower layers (seed F "Union filesystems"; Documentation/filesystems/overlayfs.rst).
// Every row mounts in a child with a private mount namespace; the parent asserts on what the
// child reports.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "ckc_test.h"
#include "overlay.h"
#include "ovl_support.h"

namespace ckc::test {
namespace {

TEST(Overlay, MergedView) {
  // Source: F "Union filesystems" (ls in merged shows ro.txt rw.txt); overlayfs.rst
  // "Upper and Lower".
  CKC_BEHAVIOUR("ovl.merged-view", "F",
                "the merged directory shows the files of both the lower and the upper layer");
  CKC_REQUIRE(Root(), Config("CONFIG_OVERLAY_FS"), NamespaceQuota(CLONE_NEWNS));
  std::string base = TestDir() + "/ovl";
  ASSERT_OK_AND_ASSIGN(ChildResult r, InPrivateMountNs([&](Channel& ch) {
                         CKC_CHILD_TRY(ovl, MountSeeded(base));
                         Observe(ch, "ls", List(ovl.merged()));
                         Observe(ch, "ro", ReadOr(ovl.merged() + "/ro.txt"));
                         Observe(ch, "rw", ReadOr(ovl.merged() + "/rw.txt"));
                         return 0;
                       }));
  ASSERT_TRUE(r.status.Exited(0)) << r.Describe();
  Observations seen = Parse(r);
  EXPECT_EQ(seen["ls"], "ro.txt rw.txt") << "expected both layers' files in merged";
  EXPECT_EQ(seen["ro"], kRo) << "merged/ro.txt (from lower)";
  EXPECT_EQ(seen["rw"], kRw) << "merged/rw.txt (from upper)";
}

TEST(Overlay, UpperWins) {
  // Source: overlayfs.rst "Upper and Lower": where a name exists in both, the upper object is
  // shown and the lower one hidden.
  CKC_BEHAVIOUR("ovl.upper-wins", "F",
                "when a name exists in both layers, the merged view shows the upper layer's file");
  CKC_REQUIRE(Root(), Config("CONFIG_OVERLAY_FS"), NamespaceQuota(CLONE_NEWNS));
  std::string base = TestDir() + "/ovl";
  ASSERT_OK_AND_ASSIGN(ChildResult r, InPrivateMountNs([&](Channel& ch) {
                         CKC_CHILD_TRY(ovl, OverlayMount::Create(base));
                         CKC_CHILD_CHECK(PutFile(ovl.lower() + "/same.txt", "from lower\n"));
                         CKC_CHILD_CHECK(PutFile(ovl.upper() + "/same.txt", "from upper\n"));
                         CKC_CHILD_CHECK(ovl.Mount());
                         Observe(ch, "ls", List(ovl.merged()));
                         Observe(ch, "same", ReadOr(ovl.merged() + "/same.txt"));
                         return 0;
                       }));
  ASSERT_TRUE(r.status.Exited(0)) << r.Describe();
  Observations seen = Parse(r);
  EXPECT_EQ(seen["ls"], "same.txt") << "one merged entry for a name in both layers";
  EXPECT_EQ(seen["same"], "from upper\n") << "expected the upper file's contents";
}

TEST(Overlay, CopyUpOnWrite) {
  // Source: F "Union filesystems" (echo "Another line" >> ro.txt; the lower file is unchanged,
  // rw.txt changes in upper); overlayfs.rst "Non-directories" (copy up).
  CKC_BEHAVIOUR("ovl.copy-up-on-write", "F",
                "appending to a file from lower via the merged directory first copies the entire "
                "file to upper, leaving the lower original unchanged");
  CKC_REQUIRE(Root(), Config("CONFIG_OVERLAY_FS"), NamespaceQuota(CLONE_NEWNS));
  std::string base = TestDir() + "/ovl";
  ASSERT_OK_AND_ASSIGN(
      ChildResult r, InPrivateMountNs([&](Channel& ch) {
        CKC_CHILD_TRY(ovl, MountSeeded(base));
        Observe(ch, "upper-before", List(ovl.upper()));
        CKC_CHILD_CHECK(PutFile(ovl.merged() + "/ro.txt", "Another line\n", /*append=*/true));
        CKC_CHILD_CHECK(
            PutFile(ovl.merged() + "/rw.txt", "This reflects in the original filesystem\n", true));
        Observe(ch, "merged-ro", ReadOr(ovl.merged() + "/ro.txt"));
        Observe(ch, "lower-ro", ReadOr(ovl.lower() + "/ro.txt"));
        Observe(ch, "upper-ro", ReadOr(ovl.upper() + "/ro.txt"));
        Observe(ch, "upper-rw", ReadOr(ovl.upper() + "/rw.txt"));
        Observe(ch, "upper-ro-kind", UpperKindOf(ovl.upper() + "/ro.txt"));
        return 0;
      }));
  ASSERT_TRUE(r.status.Exited(0)) << r.Describe();
  Observations seen = Parse(r);
  EXPECT_EQ(seen["upper-before"], "rw.txt") << "ro.txt must not be in upper before the write";
  EXPECT_EQ(seen["merged-ro"], "Read only file\nAnother line\n");
  EXPECT_EQ(seen["lower-ro"], kRo) << "the lower file must be unchanged";
  EXPECT_EQ(seen["upper-ro"], "Read only file\nAnother line\n") << "upper gets the whole file";
  EXPECT_EQ(seen["upper-ro-kind"], "regular file") << "a full copy, not a metacopy";
  EXPECT_EQ(seen["upper-rw"], "Read write file\nThis reflects in the original filesystem\n");
}

TEST(Overlay, CopyUpMetadata) {
  // Source: overlayfs.rst "Non-directories" (any open for write or metadata change copies up)
  // and "Metadata only copy up" (metacopy=on copies only metadata and marks the file).
  CKC_BEHAVIOUR("ovl.copy-up-metadata", "K",
                "changing a lower file's mode, owner or times through the merged view copies it "
                "up, with only its metadata copied when metacopy=on");
  CKC_REQUIRE(Root(), Config("CONFIG_OVERLAY_FS"), NamespaceQuota(CLONE_NEWNS),
              Config("CONFIG_TMPFS_XATTR"));
  std::string base = TestDir() + "/ovl";
  ASSERT_OK_AND_ASSIGN(
      ChildResult r, InPrivateMountNs([&](Channel& ch) {
        CKC_CHILD_TRY(ovl, OverlayMount::Create(base));
        for (const char* name : {"chmod.txt", "chown.txt", "utimes.txt", "meta.txt"}) {
          CKC_CHILD_CHECK(PutFile(ovl.lower() + "/" + name, std::string(8192, 'x')));
        }
        CKC_CHILD_CHECK(ovl.Mount());
        std::string m = ovl.merged();
        Observe(ch, "chmod", Outcome(::chmod((m + "/chmod.txt").c_str(), 0600)));
        Observe(ch, "chown", Outcome(::chown((m + "/chown.txt").c_str(), 1234, 1234)));
        struct timespec ts[2] = {{1000000000, 0}, {1000000000, 0}};
        Observe(ch, "utimes", Outcome(::utimensat(AT_FDCWD, (m + "/utimes.txt").c_str(), ts, 0)));
        struct stat a {
        }, b{}, c{};
        ::stat((ovl.upper() + "/chmod.txt").c_str(), &a);
        ::stat((ovl.upper() + "/chown.txt").c_str(), &b);
        ::stat((ovl.upper() + "/utimes.txt").c_str(), &c);
        Observe(ch, "upper-chmod",
                fmt::format("{} mode {:o}", UpperKindOf(ovl.upper() + "/chmod.txt"),
                            a.st_mode & 07777));
        Observe(ch, "upper-chown",
                fmt::format("{} uid {}", UpperKindOf(ovl.upper() + "/chown.txt"), b.st_uid));
        Observe(
            ch, "upper-utimes",
            fmt::format("{} mtime {}", UpperKindOf(ovl.upper() + "/utimes.txt"), c.st_mtim.tv_sec));
        struct stat l {};
        ::stat((ovl.lower() + "/chown.txt").c_str(), &l);
        Observe(ch, "lower-after", fmt::format("uid {}", l.st_uid));
        CKC_CHILD_CHECK(ovl.Unmount());
        CKC_CHILD_CHECK(ovl.Mount({.options = {{"metacopy", "on"}}}));
        Observe(ch, "meta-chmod", Outcome(::chmod((m + "/meta.txt").c_str(), 0600)));
        Observe(ch, "upper-meta", UpperKindOf(ovl.upper() + "/meta.txt"));
        Observe(ch, "merged-meta-size", std::to_string(ReadOr(m + "/meta.txt").size()));
        return 0;
      }));
  ASSERT_TRUE(r.status.Exited(0)) << r.Describe();
  Observations seen = Parse(r);
  EXPECT_EQ(seen["chmod"], "ok");
  EXPECT_EQ(seen["chown"], "ok");
  EXPECT_EQ(seen["utimes"], "ok");
  EXPECT_EQ(seen["upper-chmod"], "regular file mode 600") << "chmod copies the file up";
  EXPECT_EQ(seen["upper-chown"], "regular file uid 1234") << "chown copies the file up";
  EXPECT_EQ(seen["upper-utimes"], "regular file mtime 1000000000") << "utimes copies the file up";
  EXPECT_EQ(seen["lower-after"], "uid 0") << "the lower file keeps its owner";
  EXPECT_EQ(seen["meta-chmod"], "ok");
  EXPECT_EQ(seen["upper-meta"], "regular file metacopy")
      << "metacopy=on: only metadata is copied up";
  EXPECT_EQ(seen["merged-meta-size"], "8192") << "data still read from lower";
}

}  // namespace
}  // namespace ckc::test

// Overlay rows about features behind mount options: metadata-only copy-up, the inode index,
// volatile mounts, xino, in-use upper/work directories and data-only lower layers
// (Documentation/filesystems/overlayfs.rst). Each row first probes, in a mount namespace of its
// own, that the kernel takes the option on empty layers (kernel:overlay-<feature> otherwise);
// then it mounts in a child with a private mount namespace and the parent asserts on what the
// child reports.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "ckc_test.h"
#include "overlay.h"
#include "overlay_options.h"
#include "ovl_support.h"

namespace ckc::test {
namespace {

using ::testing::StartsWith;

// Probes, in a child with a private mount namespace, whether the kernel mounts the overlay
// `probe` describes on fresh layers: nullopt when it does, else the skip reason
// "kernel:overlay-<feature> (...)". A probe that cannot even mount a plain overlay is an error.
Result<std::optional<std::string>> ProbeOverlay(const std::string& feature,
                                                const OverlaySpecFor& probe, int lowers = 2) {
  std::string base = TestDir() + "/probe-" + feature;
  CKC_TRY(r, InPrivateMountNs([&](Channel& ch) {
            auto refused = OverlayRefusal(base, probe, lowers);
            if (!refused) return Report(ch, "setup: " + refused.error().Message(), 2);
            Observe(ch, "refused", refused->value_or(""));
            return 0;
          }));
  if (!r.status.Exited(0)) return Failure("probe overlay", feature, r.Describe());
  std::string refused = Parse(r)["refused"];
  if (refused.empty()) return std::optional<std::string>();
  return std::optional<std::string>(fmt::format("kernel:overlay-{} ({})", feature, refused));
}

// A probe's answer as a requirement.
Requirement Known(const std::optional<std::string>& missing) {
  return {[=] { return missing; }};
}

OverlaySpecFor WithOptions(std::vector<OverlayOption> options) {
  return [options](const OverlayMount& o) { return o.Spec({.options = options}); };
}

// "ok" or "!ERRNO <message>" for a mount attempt.
std::string MountOutcome(const Result<Mount>& m) {
  if (m) return "ok";
  return fmt::format("!{} {}", ErrnoName(m.error().err), m.error().Message());
}

std::string StOf(const std::string& path, const char* what) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return "!" + ErrnoName(errno);
  std::string w = what;
  if (w == "size") return std::to_string(st.st_size);
  if (w == "blocks") return std::to_string(st.st_blocks);
  if (w == "uid") return std::to_string(st.st_uid);
  if (w == "ino") return std::to_string(st.st_ino);
  if (w == "nlink") return std::to_string(st.st_nlink);
  return "?";
}

std::string YesNo(bool b) { return b ? "yes" : "no"; }

bool AllZero(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c == '\0'; });
}

// --- metacopy ------------------------------------------------------------------------------

// In a child: chowns a lower file through an overlay mounted with metacopy=<mode>, reports the
// upper file after the chown ("<key>-..."), appends to it and reports it again.
int ChownThenWrite(Channel& ch, const std::string& base, const std::string& mode) {
  CKC_CHILD_TRY(ovl, OverlayMount::Create(base));
  CKC_CHILD_CHECK(PutFile(ovl.lower() + "/f", "lower data\n"));
  CKC_CHILD_CHECK(ovl.Mount({.options = {{"metacopy", mode}}}));
  std::string up = ovl.upper() + "/f";
  std::string key = "metacopy-" + mode;
  Observe(ch, key + " chown", Outcome(::chown((ovl.merged() + "/f").c_str(), 1234, 1234)));
  Observe(ch, key + " upper", UpperKindOf(up));
  Observe(ch, key + " upper-size", StOf(up, "size"));
  Observe(ch, key + " upper-blocks", StOf(up, "blocks"));
  Observe(ch, key + " upper-uid", StOf(up, "uid"));
  Observe(ch, key + " upper-data-zero", YesNo(AllZero(ReadOr(up))));
  Observe(ch, key + " merged-data", ReadOr(ovl.merged() + "/f"));
  Observe(ch, key + " merged-uid", StOf(ovl.merged() + "/f", "uid"));
  Observe(
      ch, key + " append",
      PutFile(ovl.merged() + "/f", "more\n", true) ? std::string("ok") : "!" + ErrnoName(errno));
  Observe(ch, key + " upper-after", UpperKindOf(up));
  Observe(ch, key + " upper-data-after", ReadOr(up));
  Observe(ch, key + " lower-data", ReadOr(ovl.lower() + "/f"));
  return 0;
}

TEST(Overlay, MetacopyCopiesMetadataOnly) {
  // Source: overlayfs.rst "Metadata only copy up": with metacopy=on a metadata operation
  // (chown/chmod) copies up only the metadata; the upper file is marked with the metacopy xattr
  // and holds no data until the file is opened for write, when the data follows and the xattr
  // goes (Linux 4.19).
  // Negative control: metacopy=off on the same layers copies the data up at the chown (checked);
  // a kernel without the option refuses it (skip kernel:overlay-metacopy).
  CKC_BEHAVIOUR("ovl.metacopy", "K",
                "with metacopy=on, changing a lower file's owner copies only its metadata up: the "
                "upper file carries the metacopy mark and no data, and the data is copied up only "
                "when the file is first written",
                "4.19");
  CKC_REQUIRE(Root(), Config("CONFIG_OVERLAY_FS"), NamespaceQuota(CLONE_NEWNS));
  ASSERT_OK_AND_ASSIGN(auto missing, ProbeOverlay("metacopy", WithOptions({{"metacopy", "on"}})));
  CKC_REQUIRE(Known(missing));
  std::string base = TestDir() + "/ovl";
  ASSERT_OK_AND_ASSIGN(ChildResult r, InPrivateMountNs([&](Channel& ch) {
                         if (int rc = ChownThenWrite(ch, base + "-on", "on")) return rc;
                         return ChownThenWrite(ch, base + "-off", "off");
                       }));
  ASSERT_TRUE(r.status.Exited(0)) << r.Describe();
  Observations seen = Parse(r);
  EXPECT_EQ(seen["metacopy-on chown"], "ok");
  EXPECT_EQ(seen["metacopy-on upper"], "regular file metacopy")
      << "after chown the upper file is a metacopy file";
  EXPECT_EQ(seen["metacopy-on upper-size"], "11") << "with the lower file's size";
  EXPECT_EQ(seen["metacopy-on upper-blocks"], "0") << "but no data blocks";
  EXPECT_EQ(seen["metacopy-on upper-data-zero"], "yes") << "reading it directly gives no data";
  EXPECT_EQ(seen["metacopy-on upper-uid"], "1234") << "the new owner is in the upper file";
  EXPECT_EQ(seen["metacopy-on merged-data"], "lower data\n") << "merged reads the lower data";
  EXPECT_EQ(seen["metacopy-on merged-uid"], "1234");
  EXPECT_EQ(seen["metacopy-on append"], "ok");
  EXPECT_EQ(seen["metacopy-on upper-after"], "regular file")
      << "the first write copies the data up and drops the metacopy xattr";
  EXPECT_EQ(seen["metacopy-on upper-data-after"], "lower data\nmore\n");
  EXPECT_EQ(seen["metacopy-on lower-data"], "lower data\n") << "the lower file is untouched";
  EXPECT_EQ(seen["metacopy-off upper"], "regular file") << "control: a full copy-up at chown";
  EXPECT_EQ(seen["metacopy-off upper-data-zero"], "no") << "control: the data is in upper";
}

// --- index ---------------------------------------------------------------------------------

// In a child: two names of one lower file, an overlay with index=<mode>, a write through one
// name; reports what the other name shows.
int WriteOneLink(Channel& ch, const std::string& base, const std::string& mode) {
  CKC_CHILD_TRY(ovl, OverlayMount::Create(base));
  CKC_CHILD_CHECK(PutFile(ovl.lower() + "/a", "shared\n"));
  if (::link((ovl.lower() + "/a").c_str(), (ovl.lower() + "/b").c_str()) != 0) {
    return ReportErrno(ch, "setup: link", 2);
  }
  CKC_CHILD_CHECK(ovl.Mount({.options = {{"index", mode}}}));
  std::string key = "index-" + mode;
  std::string m = ovl.merged();
  Observe(ch, key + " append",
          PutFile(m + "/a", "changed\n", true) ? std::string("ok") : "!" + ErrnoName(errno));
  Observe(ch, key + " b", ReadOr(m + "/b"));
  Observe(ch, key + " same-ino", YesNo(StOf(m + "/a", "ino") == StOf(m + "/b", "ino")));
  Observe(ch, key + " b-nlink", StOf(m + "/b", "nlink"));
  Observe(ch, key + " index-dir", List(IndexDir(ovl.work())));
  Observe(ch, key + " lower-a", ReadOr(ovl.lower() + "/a"));
  return 0;
}

TEST(Overlay, IndexKeepsHardlinks) {
  // Source: overlayfs.rst "index": "If this feature is disabled and a file with multiple hard
  // links is copied up, then this will 'break' the link. Changes will not be propagated to
  // other names referring to the same inode"; "NFS export" (the index entry is a hard link to
  // the upper inode, named after the origin's file handle).
  // Negative control: index=off on the same layers breaks the link (checked); a lower file
  // system without file handles makes index=on fail with EOPNOTSUPP (skip kernel:overlay-index).
  CKC_BEHAVIOUR("ovl.index-hardlinks", "K",
                "with index=on, copying up one name of a hard-linked lower file keeps the link, "
                "so a change made through that name shows through the other name as well");
  CKC_REQUIRE(Root(), Config("CONFIG_OVERLAY_FS"), NamespaceQuota(CLONE_NEWNS));
  ASSERT_OK_AND_ASSIGN(auto missing, ProbeOverlay("index", WithOptions({{"index", "on"}})));
  CKC_REQUIRE(Known(missing));
  std::string base = TestDir() + "/ovl";
  ASSERT_OK_AND_ASSIGN(ChildResult r, InPrivateMountNs([&](Channel& ch) {
                         if (int rc = WriteOneLink(ch, base + "-on", "on")) return rc;
                         return WriteOneLink(ch, base + "-off", "off");
                       }));
  ASSERT_TRUE(r.status.Exited(0)) << r.Describe();
  Observations seen = Parse(r);
  EXPECT_EQ(seen["index-on append"], "ok");
  EXPECT_EQ(seen["index-on b"], "shared\nchanged\n") << "the other name shows the change";
  EXPECT_EQ(seen["index-on same-ino"], "yes") << "both names stay one inode";
  EXPECT_EQ(seen["index-on b-nlink"], "2");
  EXPECT_NE(seen["index-on index-dir"], "") << "the copy-up is recorded in work/index";
  EXPECT_EQ(seen["index-on lower-a"], "shared\n") << "the lower file is untouched";
  EXPECT_EQ(seen["index-off b"], "shared\n") << "control: without index the link breaks";
}

// --- volatile ------------------------------------------------------------------------------

// Removes `dir` and the files directly inside it (the volatile marker holds a "dirty" file on
// newer kernels).
Status RemoveFlatDir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return ErrnoError("opendir", dir);
  std::vector<std::string> names;
  while (auto* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  ::closedir(d);
  for (const auto& n : names) {
    if (::unlink((dir + "/" + n).c_str()) != 0) return ErrnoError("unlink", dir + "/" + n);
  }
  if (::rmdir(dir.c_str()) != 0) return ErrnoError("rmdir", dir);
  return {};
}

bool IsDir(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

TEST(Overlay, VolatileLeavesMarker) {
  // Source: overlayfs.rst "Volatile mount": a volatile mount creates
  // "$workdir/work/incompat/volatile"; a later mount finds it and refuses to mount until the
  // user removes that directory (Linux 5.10).
  // Negative control: a kernel without the option refuses it (skip kernel:overlay-volatile); the
  // remount after removing the marker must work (checked), so the refusal is the marker's.
  CKC_BEHAVIOUR("ovl.volatile", "K",
                "a volatile overlay leaves work/incompat/volatile in its work directory, and the "
                "same upper and work directories cannot be mounted again until that marker is "
                "deleted",
                "5.10");
  CKC_REQUIRE(Root(), Config("CONFIG_OVERLAY_FS"), NamespaceQuota(CLONE_NEWNS));
  ASSERT_OK_AND_ASSIGN(auto missing, ProbeOverlay("volatile", WithOptions({{"volatile", ""}})));
  CKC_REQUIRE(Known(missing));
  std::string base = TestDir() + "/ovl";
  ASSERT_OK_AND_ASSIGN(
      ChildResult r, InPrivateMountNs([&](Channel& ch) {
        CKC_CHILD_TRY(ovl, OverlayMount::Create(base));
        std::string marker = VolatileMarker(ovl.work());
        CKC_CHILD_CHECK(ovl.Mount({.options = {{"volatile", ""}}}));
        CKC_CHILD_CHECK(PutFile(ovl.merged() + "/new.txt", "written while volatile\n"));
        Observe(ch, "marker-mounted", YesNo(IsDir(marker)));
        CKC_CHILD_CHECK(ovl.Unmount());
        Observe(ch, "marker-unmounted", YesNo(IsDir(marker)));
        Observe(ch, "again", MountOutcome(MountOverlay(ovl.Spec(), ovl.merged())));
        Observe(
            ch, "again-volatile",
            MountOutcome(MountOverlay(ovl.Spec({.options = {{"volatile", ""}}}), ovl.merged())));
        CKC_CHILD_CHECK(RemoveFlatDir(marker));
        auto after = MountOverlay(ovl.Spec(), ovl.merged());
        Observe(ch, "after-removal", MountOutcome(after));
        Observe(ch, "merged-after", List(ovl.merged()));
        return 0;
      }));
  ASSERT_TRUE(r.status.Exited(0)) << r.Describe();
  Observations seen = Parse(r);
  EXPECT_EQ(seen["marker-mounted"], "yes") << "work/work/incompat/volatile while mounted";
  EXPECT_EQ(seen["marker-unmounted"], "yes") << "and left behind after unmount";
  EXPECT_THAT(seen["again"], StartsWith("!")) << "mounting the same upper/work again is refused";
  EXPECT_THAT(seen["again-volatile"], StartsWith("!")) << "also as another volatile mount";
  EXPECT_EQ(seen["after-removal"], "ok") << "once the marker is removed the layers mount";
  EXPECT_EQ(seen["merged-after"], "new.txt");
  RecordProperty("refusal", seen["again"]);
}

// --- xino ----------------------------------------------------------------------------------

// Every object below `dir` (itself included), as path -> (st_dev, st_ino).
std::map<std::string, std::pair<dev_t, ino_t>> StatTree(const std::string& dir) {
  std::map<std::string, std::pair<dev_t, ino_t>> out;
  std::vector<std::string> todo = {dir};
  while (!todo.empty()) {
    std::string p = todo.back();
    todo.pop_back();
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0) continue;
    out[p.substr(dir.size())] = {st.st_dev, st.st_ino};
    if (!S_ISDIR(st.st_mode)) continue;
    DIR* d = ::opendir(p.c_str());
    if (!d) continue;
    while (auto* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") todo.push_back(p + "/" + n);
    }
    ::closedir(d);
  }
  return out;
}

// In a child: lower layer on a tmpfs of its own, upper on the scratch tmpfs, files and
// directories in both, an overlay with xino=<mode>; reports the objects whose st_dev is not the
// overlay's, the st_ino values shared by two objects, and whether the layers' own inode numbers
// collide.
int StatAcrossLayers(Channel& ch, const std::string& base, const std::string& mode) {
  CKC_CHILD_TRY(ovl, OverlayMount::Create(base, 1));
  CKC_CHILD_TRY(lower_fs, MountTmpfs(ovl.lower(), "mode=0755"));
  CKC_CHILD_CHECK(MakeDirs(ovl.lower() + "/d"));
  for (const char* f : {"/a", "/b", "/d/x"}) CKC_CHILD_CHECK(PutFile(ovl.lower() + f, "lower\n"));
  CKC_CHILD_CHECK(MakeDirs(ovl.upper() + "/e"));
  CKC_CHILD_CHECK(PutFile(ovl.upper() + "/c", "upper\n"));
  CKC_CHILD_CHECK(PutFile(ovl.upper() + "/e/y", "upper\n"));
  std::set<ino_t> lower_inos, collisions;
  for (const auto& [p, id] : StatTree(ovl.lower())) lower_inos.insert(id.second);
  for (const auto& [p, id] : StatTree(ovl.upper())) {
    if (lower_inos.contains(id.second)) collisions.insert(id.second);
  }
  CKC_CHILD_CHECK(ovl.Mount({.options = {{"xino", mode}}}));
  auto tree = StatTree(ovl.merged());
  dev_t overlay_dev = tree[""].first;
  std::map<ino_t, std::vector<std::string>> by_ino;
  std::string foreign_dev;
  for (const auto& [p, id] : tree) {
    if (id.first != overlay_dev) foreign_dev += (foreign_dev.empty() ? "" : " ") + p;
    by_ino[id.second].push_back(p);
  }
  std::string shared_ino;
  for (const auto& [ino, paths] : by_ino) {
    if (paths.size() < 2) continue;
    std::string group;
    for (const auto& p : paths) group += (group.empty() ? "" : "=") + p;
    shared_ino += (shared_ino.empty() ? "" : " ") + group;
  }
  std::string key = "xino-" + mode;
  Observe(ch, key + " objects", std::to_string(tree.size()));
  Observe(ch, key + " foreign-dev", foreign_dev);
  Observe(ch, key + " shared-ino", shared_ino);
  Observe(ch, key + " layer-ino-collisions", std::to_string(collisions.size()));
  return 0;
}

TEST(Overlay, XinoUniformInodes) {
  // Source: overlayfs.rst "Overlay objects" and "Inode properties" (with xino=on/auto: uniform
  // st_dev and st_ino unique for dirs and non-dirs, on 64-bit systems), "xino" under
  // "Non-standard behavior". The layers are on two tmpfs, so without xino non-directories keep
  // their layers' devices.
  // Negative control: xino=off on the same layout leaves non-directories with another st_dev
  // (checked); lower inode numbers that overflow the free high bits would make xino fall back.
  CKC_BEHAVIOUR("ovl.xino", "K",
                "with xino=on, files and directories of the merged view all report the overlay's "
                "own st_dev, and no two of them share an inode number, even when the layers sit "
                "on different file systems");
  CKC_REQUIRE(Root(), Config("CONFIG_OVERLAY_FS"), NamespaceQuota(CLONE_NEWNS));
  ASSERT_OK_AND_ASSIGN(auto missing, ProbeOverlay("xino", WithOptions({{"xino", "on"}})));
  CKC_REQUIRE(Known(missing));
  std::string base = TestDir() + "/ovl";
  ASSERT_OK_AND_ASSIGN(ChildResult r, InPrivateMountNs([&](Channel& ch) {
                         if (int rc = StatAcrossLayers(ch, base + "-on", "on")) return rc;
                         return StatAcrossLayers(ch, base + "-off", "off");
                       }));
  ASSERT_TRUE(r.status.Exited(0)) << r.Describe();
  Observations seen = Parse(r);
  EXPECT_EQ(seen["xino-on objects"], "8") << "/ a b c d d/x e e/y";
  EXPECT_EQ(seen["xino-on foreign-dev"], "") << "objects whose st_dev is not the overlay's";
  EXPECT_EQ(seen["xino-on shared-ino"], "") << "objects sharing an st_ino";
  EXPECT_NE(seen["xino-off foreign-dev"], "")
      << "control: without xino, non-directories of the two layers keep other devices";
  RecordProperty("layer-ino-collisions", seen["xino-on layer-ino-collisions"]);
  RecordProperty("xino-off-shared-ino", seen["xino-off shared-ino"]);
}

// --- busy upper ----------------------------------------------------------------------------

TEST(Overlay, BusyUpperRefused) {
  // Source: overlayfs.rst "Sharing and copying layers": "Using an upper layer path and/or a
  // workdir path that are already used by another overlay mount is not allowed and may fail
  // with EBUSY". fs/overlayfs/super.c enforces it for a mount with index=on ("mount with
  // '-o index=off' to override exclusive upperdir protection") and only warns without index,
  // so the second mounts here use index=on; what index=off does is recorded, not judged.
  // Negative control: the second overlay with an upper and work of its own mounts (checked);
  // index=off on the second mount lets it share (recorded as "index-off-same-upper").
  CKC_BEHAVIOUR("ovl.busy-upper", "K",
                "an upper or work directory that one mounted overlay uses is refused with EBUSY "
                "to a second overlay (one with index=on, which claims them exclusively)");
  CKC_REQUIRE(Root(), Config("CONFIG_OVERLAY_FS"), NamespaceQuota(CLONE_NEWNS));
  ASSERT_OK_AND_ASSIGN(auto missing, ProbeOverlay("index", WithOptions({{"index", "on"}})));
  CKC_REQUIRE(Known(missing));
  std::string base = TestDir() + "/ovl";
  ASSERT_OK_AND_ASSIGN(ChildResult r, InPrivateMountNs([&](Channel& ch) {
                         CKC_CHILD_TRY(ovl, OverlayMount::Create(base));
                         for (const char* d : {"/upper2", "/work2", "/merged2"}) {
                           CKC_CHILD_CHECK(MakeDirs(base + d));
                         }
                         std::vector<OverlayOption> index = {{"index", "on"}};
                         CKC_CHILD_CHECK(ovl.Mount({.options = index}));
                         OverlaySpec spec = ovl.Spec({.options = index});
                         auto second = [&](const std::string& upper, const std::string& work) {
                           OverlaySpec s = spec;
                           s.upper = upper;
                           s.work = work;
                           return MountOutcome(MountOverlay(s, base + "/merged2"));
                         };
                         Observe(ch, "same-upper", second(ovl.upper(), base + "/work2"));
                         Observe(ch, "same-work", second(base + "/upper2", ovl.work()));
                         Observe(ch, "own-dirs", second(base + "/upper2", base + "/work2"));
                         spec.options = {{"index", "off"}};
                         Observe(ch, "index-off-same-upper", second(ovl.upper(), base + "/work2"));
                         return 0;
                       }));
  ASSERT_TRUE(r.status.Exited(0)) << r.Describe();
  Observations seen = Parse(r);
  EXPECT_THAT(seen["same-upper"], StartsWith("!EBUSY")) << "upperdir in use by another overlay";
  EXPECT_THAT(seen["same-work"], StartsWith("!EBUSY")) << "workdir in use by another overlay";
  EXPECT_EQ(seen["own-dirs"], "ok") << "control: a second overlay with dirs of its own";
  RecordProperty("index-off-same-upper", seen["index-off-same-upper"]);
}

// --- data-only lower layers ----------------------------------------------------------------

TEST(Overlay, DataOnlyLowerServesData) {
  // Source: overlayfs.rst "Data-only lower layers" (Linux 6.5): layers after "::" are data-only;
  // their paths never appear in the merged view, and their data is seen only through a metacopy
  // file of a layer above whose redirect names the data file's absolute path. The metadata
  // file is built as layer tools do ("Metadata only copy up": trusted.overlay.metacopy, and a
  // trusted.overlay.redirect).
  // Negative control: the same layers joined with a single ":" show the data layer's files
  // (checked); a kernel before 6.5 cannot parse "::" (skip kernel:overlay-data-only-lower).
  CKC_BEHAVIOUR("ovl.data-only-lower", "K",
                "lower layers given after a double colon are data-only: none of their files shows "
                "in the merged view, and their content is reached only through a metacopy file "
                "above that redirects to it",
                "6.5");
  CKC_REQUIRE(Root(), Config("CONFIG_OVERLAY_FS"), NamespaceQuota(CLONE_NEWNS));
  ASSERT_OK_AND_ASSIGN(auto missing, ProbeOverlay("data-only-lower", [](const OverlayMount& o) {
                         return DataOnlySpec(o, 1, {{"metacopy", "on"}});
                       }));
  CKC_REQUIRE(Known(missing));
  std::string base = TestDir() + "/ovl";
  constexpr std::string_view kPayload = "data from the data-only layer\n";
  ASSERT_OK_AND_ASSIGN(
      ChildResult r, InPrivateMountNs([&](Channel& ch) {
        CKC_CHILD_TRY(ovl, OverlayMount::Create(base, 2));
        CKC_CHILD_CHECK(PutFile(ovl.lower(1) + "/blob", kPayload));
        CKC_CHILD_CHECK(PutFile(ovl.lower(1) + "/hidden.txt", "only in the data layer\n"));
        CKC_CHILD_CHECK(PutFile(ovl.lower(0) + "/plain.txt", "regular lower\n"));
        CKC_CHILD_CHECK(MakeMetacopyRedirect(ovl.lower(0) + "/file", "/blob",
                                             static_cast<off_t>(kPayload.size())));
        for (const char* sep : {"::", ":"}) {
          // "::": lower1 data-only; ":" (the control): lower1 an ordinary lower layer.
          OverlaySpec spec = sep == std::string("::")
                                 ? DataOnlySpec(ovl, 1, {{"metacopy", "on"}})
                                 : ovl.Spec({.read_only = true, .options = {{"metacopy", "on"}}});
          std::string m = ovl.merged();
          auto mounted = MountOverlay(spec, m);
          Observe(ch, fmt::format("{} mount", sep), MountOutcome(mounted));
          if (!mounted) continue;
          Observe(ch, fmt::format("{} ls", sep), List(m));
          Observe(ch, fmt::format("{} file", sep), ReadOr(m + "/file"));
          std::string blob = StOf(m + "/blob", "ino");
          Observe(ch, fmt::format("{} blob", sep), blob.starts_with("!") ? blob : "visible");
          Observe(ch, fmt::format("{} ino-from-top", sep),
                  YesNo(StOf(m + "/file", "ino") == StOf(ovl.lower(0) + "/file", "ino")));
          CKC_CHILD_CHECK(mounted->Unmount());
        }
        return 0;
      }));
  ASSERT_TRUE(r.status.Exited(0)) << r.Describe();
  Observations seen = Parse(r);
  ASSERT_EQ(seen[":: mount"], "ok") << "lowerdir=lower0::lower1,metacopy=on";
  EXPECT_EQ(seen[":: ls"], "file plain.txt") << "no file of the data-only layer is listed";
  EXPECT_EQ(seen[":: blob"], "!ENOENT") << "nor can one be looked up by name";
  EXPECT_EQ(seen[":: file"], kPayload) << "the metacopy file reads the data-only layer's data";
  EXPECT_EQ(seen[":: ino-from-top"], "yes") << "with the inode of the layer above";
  EXPECT_EQ(seen[": mount"], "ok");
  EXPECT_EQ(seen[": ls"], "blob file hidden.txt plain.txt")
      << "control: as a regular lower layer its files show";
}

}  // namespace
}  // namespace ckc::test

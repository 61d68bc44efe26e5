// Overlay file system: an OverlayMount owning its layers on a scratch tmpfs, a one-shot mount
// helper that reports the refused option, and a classifier for entries of the upper layer.
//
//   CKC_CHECK(MakeRootPrivate());                        // in a mount namespace of one's own
//   CKC_TRY(ovl, OverlayMount::Create(TestDir() + "/ovl", /*lowers=*/2));
//   CKC_CHECK(WriteFile(ovl.lower(0) + "/ro.txt", "Read only file\n"));
//   CKC_CHECK(ovl.Mount({.options = {{"redirect_dir", "on"}}}));   // lowerdir=lower0:lower1,...
//   ... ovl.merged() ...
//   CKC_TRY(entry, ClassifyUpperEntry(ovl.upper() + "/ro.txt"));  // entry.kind == kWhiteout
//
// Mounting uses the new mount API where the kernel has it (the error then names the option and
// carries the kernel's message) and mount(2) otherwise. Like every helper in mounts.h, these
// never check that the caller is in a private mount namespace: the tests run them in a child
// made with CLONE_NEWNS, so nothing reaches the host even if the test is killed.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "mounts.h"
#include "result.h"

namespace ckc {

// An overlay option: {"redirect_dir", "on"}; a flag such as userxattr has an empty value.
using OverlayOption = std::pair<std::string, std::string>;

struct OverlaySpec {
  std::vector<std::string> lowers;  // top-most first (the leftmost lowerdir wins)
  std::string upper;                // empty: a read-only overlay (no upperdir, no workdir)
  std::string work;                 // may be empty to observe the kernel refuse it
  std::vector<OverlayOption> options = {};
};

// "lowerdir=a:b,upperdir=u,workdir=w,redirect_dir=on": the mount(2) data string.
[[nodiscard]] std::string OverlayMountData(const OverlaySpec& spec);

// Mounts an overlay on `target`: fsopen/fsconfig/fsmount/move_mount, or mount(2) where fsopen
// is ENOSYS. A refused option yields fsconfig(`overlay: workdir=/w`) with the kernel's message.
[[nodiscard]] Result<Mount> MountOverlay(const OverlaySpec& spec, const std::string& target);

struct OverlayMountOptions {
  bool read_only = false;  // no upperdir/workdir
  std::vector<OverlayOption> options =
      {};  // passed through: redirect_dir, metacopy, index, userxattr
};

// Scratch tmpfs on `base` holding lower0..lowerN-1, upper, work and merged; the overlay is
// mounted on merged. Teardown order is member order reversed: overlay, then the scratch tmpfs.
class OverlayMount {
 public:
  [[nodiscard]] static Result<OverlayMount> Create(const std::string& base, int lowers = 1,
                                                   const std::string& tmpfs_options = "mode=0755");
  OverlayMount(OverlayMount&&) noexcept = default;
  OverlayMount& operator=(OverlayMount&&) noexcept = default;

  [[nodiscard]] std::string lower(int i = 0) const { return base_ + "/lower" + std::to_string(i); }
  [[nodiscard]] std::string upper() const { return base_ + "/upper"; }
  [[nodiscard]] std::string work() const { return base_ + "/work"; }
  [[nodiscard]] std::string merged() const { return base_ + "/merged"; }
  [[nodiscard]] const std::string& base() const { return base_; }
  [[nodiscard]] bool mounted() const { return !overlay_.target().empty(); }

  // The spec Mount() would use: every lower (lower0 top-most), upper and work.
  [[nodiscard]] OverlaySpec Spec(const OverlayMountOptions& options = {}) const;
  [[nodiscard]] Status Mount(const OverlayMountOptions& options = {});
  [[nodiscard]] Status Unmount();

 private:
  OverlayMount(std::string base, int lowers, ::ckc::Mount scratch)
      : base_(std::move(base)), lowers_(lowers), scratch_(std::move(scratch)) {}

  std::string base_;
  int lowers_ = 1;
  ::ckc::Mount scratch_;  // destroyed after overlay_
  ::ckc::Mount overlay_;
};

enum class UpperKind { kMissing, kRegular, kDirectory, kWhiteout, kOther };

// What an entry of the upper layer means to overlay (Documentation/filesystems/overlayfs.rst).
struct UpperEntry {
  UpperKind kind = UpperKind::kMissing;
  bool whiteout_is_xattr = false;       // a zero-size file marked overlay.whiteout (6.7+)
  bool opaque = false;                  // overlay.opaque = "y": hides the lower directory
  std::optional<std::string> redirect = {};  // overlay.redirect: where a renamed dir came from
  bool metacopy = false;                // overlay.metacopy: metadata only, data still in lower
  unsigned int mode = 0;                // st_mode
  unsigned long rdev = 0;               // st_rdev

  // "whiteout (char 0/0)", "directory opaque redirect=/a", "regular metacopy".
  [[nodiscard]] std::string Describe() const;
};

// Classifies `path` in an upper layer, reading both trusted.overlay.* and user.overlay.*.
[[nodiscard]] Result<UpperEntry> ClassifyUpperEntry(const std::string& path);

}  // namespace ckc

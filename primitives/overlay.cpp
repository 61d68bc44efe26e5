#include "overlay.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <fmt/format.h>

#include "fd.h"
#include "fs_context.h"

namespace ckc {

namespace {

std::string JoinLowers(const std::vector<std::string>& lowers) {
  std::string out;
  for (const auto& l : lowers) out += (out.empty() ? "" : ":") + l;
  return out;
}

// Every key=value the overlay gets, in the order the kernel documentation lists them.
std::vector<OverlayOption> AllOptions(const OverlaySpec& spec) {
  std::vector<OverlayOption> all;
  if (!spec.lowers.empty()) all.emplace_back("lowerdir", JoinLowers(spec.lowers));
  if (!spec.upper.empty()) all.emplace_back("upperdir", spec.upper);
  if (!spec.work.empty()) all.emplace_back("workdir", spec.work);
  for (const auto& o : spec.options) all.push_back(o);
  return all;
}

Result<Mount> MountOverlayWithFsContext(FsContext& fc, const OverlaySpec& spec,
                                        const std::string& target) {
  for (const auto& [key, value] : AllOptions(spec)) {
    CKC_CHECK(value.empty() ? fc.SetFlag(key) : fc.SetString(key, value));
  }
  CKC_CHECK(fc.Create());
  return fc.Attach(target);
}

// Value of xattr `name` on `path`, nullopt if it is not set (or the fs has no xattrs).
std::optional<std::string> GetXattr(const std::string& path, const std::string& name) {
  char buf[4096];
  ssize_t n = ::lgetxattr(path.c_str(), name.c_str(), buf, sizeof(buf));
  if (n < 0) return std::nullopt;
  return std::string(buf, static_cast<size_t>(n));
}

// overlay.<name> in the trusted namespace (default) or the user namespace (userxattr).
std::optional<std::string> GetOverlayXattr(const std::string& path, const std::string& name) {
  if (auto v = GetXattr(path, "trusted.overlay." + name)) return v;
  return GetXattr(path, "user.overlay." + name);
}

}  // namespace

std::string OverlayMountData(const OverlaySpec& spec) {
  std::string data;
  for (const auto& [key, value] : AllOptions(spec)) {
    if (!data.empty()) data += ",";
    data += value.empty() ? key : key + "=" + value;
  }
  return data;
}

Result<Mount> MountOverlay(const OverlaySpec& spec, const std::string& target) {
  auto fc = FsContext::Open("overlay");
  if (fc) return MountOverlayWithFsContext(*fc, spec, target);
  if (fc.error().err != ENOSYS) return Propagate(fc.error());
  // Kernels before 5.2 have no fsopen: the whole option string goes through mount(2).
  return MountFs("overlay", target, "overlay", 0, OverlayMountData(spec));
}

Result<OverlayMount> OverlayMount::Create(const std::string& base, int lowers,
                                          const std::string& tmpfs_options) {
  CKC_CHECK(MakeDirs(base, 0755));
  CKC_TRY(scratch, MountTmpfs(base, tmpfs_options));
  OverlayMount ovl(base, lowers, std::move(scratch));
  for (int i = 0; i < lowers; ++i) CKC_CHECK(MakeDirs(ovl.lower(i), 0755));
  CKC_CHECK(MakeDirs(ovl.upper(), 0755));
  CKC_CHECK(MakeDirs(ovl.work(), 0755));
  CKC_CHECK(MakeDirs(ovl.merged(), 0755));
  return ovl;
}

OverlaySpec OverlayMount::Spec(const OverlayMountOptions& options) const {
  OverlaySpec spec;
  for (int i = 0; i < lowers_; ++i) spec.lowers.push_back(lower(i));
  if (!options.read_only) {
    spec.upper = upper();
    spec.work = work();
  }
  spec.options = options.options;
  return spec;
}

Status OverlayMount::Mount(const OverlayMountOptions& options) {
  if (mounted()) return Failure("mount", merged(), "the overlay is already mounted");
  CKC_TRY(m, MountOverlay(Spec(options), merged()));
  overlay_ = std::move(m);
  return {};
}

Status OverlayMount::Unmount() { return overlay_.Unmount(); }

std::string UpperEntry::Describe() const {
  std::string out;
  switch (kind) {
    case UpperKind::kMissing:
      return "missing";
    case UpperKind::kRegular:
      out = "regular file";
      break;
    case UpperKind::kDirectory:
      out = "directory";
      break;
    case UpperKind::kWhiteout:
      out = whiteout_is_xattr ? "whiteout (xattr)"
                              : fmt::format("whiteout (char {}/{})", major(rdev), minor(rdev));
      break;
    case UpperKind::kOther:
      out = fmt::format("other (mode {:o}, rdev {}/{})", mode, major(rdev), minor(rdev));
      break;
  }
  if (opaque) out += " opaque";
  if (redirect) out += " redirect=" + *redirect;
  if (metacopy) out += " metacopy";
  return out;
}

Result<UpperEntry> ClassifyUpperEntry(const std::string& path) {
  UpperEntry e;
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return e;
    return ErrnoError("lstat", path);
  }
  e.mode = st.st_mode;
  e.rdev = st.st_rdev;
  if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) {
    e.kind = UpperKind::kWhiteout;
  } else if (S_ISREG(st.st_mode)) {
    e.kind = UpperKind::kRegular;
    if (st.st_size == 0 && GetOverlayXattr(path, "whiteout")) {
      e.kind = UpperKind::kWhiteout;
      e.whiteout_is_xattr = true;
    }
  } else if (S_ISDIR(st.st_mode)) {
    e.kind = UpperKind::kDirectory;
  } else {
    e.kind = UpperKind::kOther;
  }
  e.opaque = GetOverlayXattr(path, "opaque") == std::optional<std::string>("y");
  e.redirect = GetOverlayXattr(path, "redirect");
  e.metacopy = GetOverlayXattr(path, "metacopy").has_value();
  return e;
}

}  // namespace ckc

#include "overlay_options.h"

#include <sys/xattr.h>
#include <unistd.h>

#include <fmt/format.h>

#include "fd.h"

namespace ckc {

namespace {

// How a kernel refuses an overlay it cannot make out of empty layers: an unknown option
// (EINVAL), a lowerdir syntax it splits into an empty path (ENOENT), or a feature the layers'
// file system cannot back (EOPNOTSUPP). Anything else is not a missing feature.
bool IsRefusal(int err) { return err == EINVAL || err == ENOENT || err == EOPNOTSUPP; }

}  // namespace

Result<std::optional<std::string>> OverlayRefusal(const std::string& base,
                                                  const OverlaySpecFor& probe, int lowers) {
  {
    CKC_TRY(plain, OverlayMount::Create(base + "/plain", lowers));
    CKC_TRY(mounted, MountOverlay(plain.Spec(), plain.merged()));
    CKC_CHECK(mounted.Unmount());
  }
  CKC_TRY(fresh, OverlayMount::Create(base + "/probe", lowers));
  auto mounted = MountOverlay(probe(fresh), fresh.merged());
  if (mounted) {
    CKC_CHECK(mounted->Unmount());
    return std::optional<std::string>();
  }
  if (!IsRefusal(mounted.error().err)) return Propagate(mounted.error());
  return std::optional<std::string>(
      fmt::format("{} {}", ErrnoName(mounted.error().err), mounted.error().Message()));
}

std::string DataOnlyLowerdir(const std::vector<std::string>& regular,
                             const std::vector<std::string>& data_only) {
  std::string out;
  for (const auto& l : regular) out += (out.empty() ? "" : ":") + l;
  for (const auto& d : data_only) out += "::" + d;
  return out;
}

OverlaySpec DataOnlySpec(const OverlayMount& ovl, int regular, std::vector<OverlayOption> options) {
  OverlaySpec all = ovl.Spec({.read_only = true});
  std::vector<std::string> top(all.lowers.begin(), all.lowers.begin() + regular);
  std::vector<std::string> data(all.lowers.begin() + regular, all.lowers.end());
  // The lowers go in as one lowerdir option: OverlaySpec::lowers only knows ":" separators.
  OverlaySpec spec;
  spec.options.emplace_back("lowerdir", DataOnlyLowerdir(top, data));
  for (auto& o : options) spec.options.push_back(std::move(o));
  return spec;
}

std::string VolatileMarker(const std::string& workdir) {
  return workdir + "/work/incompat/volatile";
}

std::string IndexDir(const std::string& workdir) { return workdir + "/index"; }

Status MakeMetacopyRedirect(const std::string& path, const std::string& redirect, off_t size) {
  {
    CKC_TRY(fd, OpenFile(path, O_WRONLY | O_CREAT | O_TRUNC, 0644));
    if (::ftruncate(fd.get(), size) != 0) return ErrnoError("ftruncate", path);
  }
  if (::lsetxattr(path.c_str(), "trusted.overlay.metacopy", "", 0, 0) != 0) {
    return ErrnoError("lsetxattr trusted.overlay.metacopy", path);
  }
  if (::lsetxattr(path.c_str(), "trusted.overlay.redirect", redirect.data(), redirect.size(), 0) !=
      0) {
    return ErrnoError("lsetxattr trusted.overlay.redirect", path);
  }
  return {};
}

Result<bool> HasXattr(const std::string& path, const std::string& name) {
  if (::lgetxattr(path.c_str(), name.c_str(), nullptr, 0) >= 0) return true;
  if (errno == ENODATA) return false;
  return ErrnoError("lgetxattr " + name, path);
}

}  // namespace ckc

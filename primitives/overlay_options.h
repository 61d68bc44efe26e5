// Overlay features behind mount options (overlayfs.rst "Metadata only copy up", "Data-only lower
// layers", "index", "xino", "Volatile mount"): whether the running kernel takes an option, the
// lowerdir syntax for data-only layers, the files overlay keeps in its work directory, and the
// xattrs a layer builder writes for a metacopy file.
//
//   // in a private mount namespace:
//   CKC_TRY(refused, OverlayRefusal(base, [](const OverlayMount& o) {
//             return o.Spec({.options = {{"volatile", ""}}}); }));
//   if (refused) ... *refused: "EINVAL fsconfig(`overlay: volatile`): ...: kernel: e overlay: ..."
//   OverlaySpec ro = DataOnlySpec(ovl, /*regular=*/1, {{"metacopy", "on"}});  // lower0::lower1
//   CKC_CHECK(MakeMetacopyRedirect(ovl.lower(0) + "/f", "/blob", 13));        // trusted.overlay.*
//   VolatileMarker(ovl.work())  ->  ".../work/work/incompat/volatile"
//
// Like overlay.h these never check that the caller is in a mount namespace of its own.
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "overlay.h"
#include "result.h"

namespace ckc {

// The overlay to try on fresh layers (all lowers, upper and work of `ovl` are empty).
using OverlaySpecFor = std::function<OverlaySpec(const OverlayMount& ovl)>;

// Whether the kernel accepts the overlay `probe` describes: mounts a plain overlay and then
// `probe`'s, each on fresh layers of its own under `base` (scratch tmpfs, removed again).
// nullopt when it mounts; the refusal ("EINVAL fsconfig(...): kernel: ...") when only the
// probe's overlay is refused, which on such empty layers means the kernel lacks the option;
// an error when even the plain overlay does not mount (broken setup, not a missing option).
[[nodiscard]] Result<std::optional<std::string>> OverlayRefusal(const std::string& base,
                                                                const OverlaySpecFor& probe,
                                                                int lowers = 2);

// "lowerdir=a:b::c::d": `regular` lower layers, then data-only ones after "::".
[[nodiscard]] std::string DataOnlyLowerdir(const std::vector<std::string>& regular,
                                           const std::vector<std::string>& data_only);
// A read-only overlay of `ovl`'s layers with the first `regular` lowers as normal layers and
// the rest as data-only layers, plus `options`.
[[nodiscard]] OverlaySpec DataOnlySpec(const OverlayMount& ovl, int regular,
                                       std::vector<OverlayOption> options = {});

// The marker a volatile mount leaves: <workdir>/work/incompat/volatile.
[[nodiscard]] std::string VolatileMarker(const std::string& workdir);
// The index directory an index=on overlay keeps: <workdir>/index.
[[nodiscard]] std::string IndexDir(const std::string& workdir);

// Writes a metacopy file for a lower layer, as layer builders do: an empty file of `size` bytes
// (sparse) with trusted.overlay.metacopy (empty) and trusted.overlay.redirect = `redirect`, the
// absolute path of its data in a layer below. Needs CAP_SYS_ADMIN (trusted.* xattrs).
[[nodiscard]] Status MakeMetacopyRedirect(const std::string& path, const std::string& redirect,
                                          off_t size);

// Whether `path` carries the xattr `name` (ENODATA: no); an error for other failures.
[[nodiscard]] Result<bool> HasXattr(const std::string& path, const std::string& name);

}  // namespace ckc

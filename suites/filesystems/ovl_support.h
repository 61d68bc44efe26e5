// Support for the overlay rows: the child works in a private mount namespace and reports what
// it saw through Observe (ckc_test.h); the parent asserts on Parse(result).
//
//   ASSERT_OK_AND_ASSIGN(ChildResult r, InPrivateMountNs([&](Channel& ch) {
//     CKC_CHILD_TRY(ovl, OverlayMount::Create(base));          // "setup: ..." and exit 2
//     Observe(ch, "merged", List(ovl.merged()));
//     return 0;
//   }));
//   Observations seen = Parse(r);   EXPECT_EQ(seen["merged"], "ro.txt rw.txt");
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "ckc_test.h"
#include "overlay.h"

namespace ckc::test {

// Runs `fn` in a child with a mount namespace of its own (/ made rprivate before `fn`), so
// nothing it mounts reaches the host, even if the test is killed.
Result<ChildResult> InPrivateMountNs(const std::function<int(Channel&)>& fn);

// Contents of `path`, or "!ERRNO" if it cannot be read.
std::string ReadOr(const std::string& path);
// The names in `dir`, sorted and separated by spaces, or "!ERRNO".
std::string List(const std::string& dir);
// Creates (or appends to) a file with `data`.
[[nodiscard]] Status PutFile(const std::string& path, std::string_view data, bool append = false);
// The seed's layers (F "Union filesystems"): lower/ro.txt and upper/rw.txt.
inline constexpr std::string_view kRo = "Read only file\n";
inline constexpr std::string_view kRw = "Read write file\n";
[[nodiscard]] Status SeedLayers(const OverlayMount& ovl);
// An overlay under `base` with the seed's layers, mounted read-write.
[[nodiscard]] Result<OverlayMount> MountSeeded(const std::string& base);
// ClassifyUpperEntry(path) described, or "!<error>".
std::string UpperKindOf(const std::string& path);

}  // namespace ckc::test

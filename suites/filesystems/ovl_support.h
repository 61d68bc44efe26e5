// Support for the overlay rows: the child works in a private mount namespace and reports what
// it saw as "key=value" messages; the parent turns them into Observations and asserts.
//
//   ASSERT_OK_AND_ASSIGN(ChildResult r, InPrivateMountNs([&](Channel& ch) {
//     CKC_CHILD_TRY(ovl, OverlayMount::Create(base));          // "setup: ..." and exit 2
//     Observe(ch, "merged", List(ovl.merged()));
//     return 0;
//   }));
//   Observations seen = Parse(r);   EXPECT_EQ(seen["merged"], "ro.txt rw.txt");
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "ckc_test.h"
#include "overlay.h"

namespace ckc::test {

using Observations = std::map<std::string, std::string>;

// Runs `fn` in a child with a mount namespace of its own (/ made rprivate before `fn`), so
// nothing it mounts reaches the host, even if the test is killed.
Result<ChildResult> InPrivateMountNs(const std::function<int(Channel&)>& fn);

// In a child: sends "key=value".
void Observe(Channel& ch, std::string_view key, std::string_view value);
// The parent's view of the "key=value" reports (the last value of a key wins).
Observations Parse(const ChildResult& result);

// Contents of `path`, or "!ERRNO" if it cannot be read.
std::string ReadOr(const std::string& path);
// The names in `dir`, sorted and separated by spaces, or "!ERRNO".
std::string List(const std::string& dir);
// "ok" if a raw call returned >= 0, else "!ERRNO" (read errno at once).
std::string Outcome(long rc);
// Creates (or appends to) a file with `data`.
[[nodiscard]] Status PutFile(const std::string& path, std::string_view data, bool append = false);
// ClassifyUpperEntry(path) described, or "!<error>".
std::string UpperKindOf(const std::string& path);

}  // namespace ckc::test

// In a child: binds `var` to the value of a Result, or reports "setup: <error>" and exits 2.
#define CKC_CHILD_TRY(var, expr)                                                            \
  auto var##_r_ = (expr);                                                                   \
  if (!var##_r_) return ::ckc::test::Report(ch, "setup: " + var##_r_.error().Message(), 2); \
  auto var = std::move(*var##_r_)
#define CKC_CHILD_CHECK(expr)                                               \
  do {                                                                      \
    if (auto st_ = (expr); !st_)                                            \
      return ::ckc::test::Report(ch, "setup: " + st_.error().Message(), 2); \
  } while (0)

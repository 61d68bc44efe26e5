// Result<T> and Error: how every primitive reports failure.
//
//   Result<UniqueFd> fd = OpenFile("/proc/self/ns/net", O_RDONLY);
//   if (!fd) return std::unexpected(fd.error());   // or: CKC_TRY(fd, OpenFile(...));
//   fd.error().Message()  ->  "open(`/x`): ENOENT (No such file or directory)"
//
// No exceptions cross the library and nothing in it calls exit().
#pragma once

#include <cerrno>
#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace ckc {

// A failed operation: errno, the call that failed and the argument it failed on.
struct Error {
  int err = 0;            // errno value; 0 for failures that are not system-call errors
  std::string operation;  // "mount", "clone3", "write"...
  std::string argument;   // path, pid or other argument that identifies the object

  // "mount(`/tmp/x`): EINVAL (Invalid argument)"; without errno: "parse(`x`): what went wrong".
  [[nodiscard]] std::string Message() const;
  // Text for err == 0 errors (a parse failure, a protocol mismatch).
  std::string detail;
};

// Name of an errno value ("ENOENT"), or "E<number>" when unknown.
[[nodiscard]] std::string ErrnoName(int err);

template <typename T>
using Result = std::expected<T, Error>;

// Result of an operation that returns nothing.
using Status = Result<void>;

// The current errno as an error of `operation` on `argument`.
[[nodiscard]] inline std::unexpected<Error> ErrnoError(std::string_view operation,
                                                       std::string_view argument = {}) {
  return std::unexpected(Error{errno, std::string(operation), std::string(argument), {}});
}

// A failure that is not a system-call error.
[[nodiscard]] inline std::unexpected<Error> Failure(std::string_view operation,
                                                    std::string_view argument,
                                                    std::string_view detail) {
  return std::unexpected(
      Error{0, std::string(operation), std::string(argument), std::string(detail)});
}

[[nodiscard]] inline std::unexpected<Error> Propagate(const Error& e) { return std::unexpected(e); }

}  // namespace ckc

// Evaluates `expr` (a Result<T>); on error returns it from the enclosing function, else binds
// the value to `var`.
#define CKC_TRY(var, expr)                                            \
  auto var##_result_ = (expr);                                        \
  if (!var##_result_) return ::ckc::Propagate(var##_result_.error()); \
  auto var = std::move(*var##_result_)

// Evaluates a Status; on error returns it from the enclosing function.
#define CKC_CHECK(expr)                                                \
  do {                                                                 \
    if (auto st_ = (expr); !st_) return ::ckc::Propagate(st_.error()); \
  } while (0)

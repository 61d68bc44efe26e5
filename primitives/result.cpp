#include "result.h"

#include <fmt/format.h>
#include <cstring>

namespace ckc {

std::string ErrnoName(int err) {
  // strerrorname_np (glibc 2.32) knows every errno of the running libc.
  if (const char* name = strerrorname_np(err)) return name;
  return fmt::format("E{}", err);
}

std::string Error::Message() const {
  std::string out = operation;
  if (!argument.empty()) out += fmt::format("(`{}`)", argument);
  if (err != 0) {
    out +=
        fmt::format(": {} ({})", ErrnoName(err), strerrordesc_np(err) ? strerrordesc_np(err) : "?");
  }
  if (!detail.empty()) out += fmt::format(": {}", detail);
  return out;
}

}  // namespace ckc

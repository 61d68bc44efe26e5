#include "timens.h"

#include <sched.h>

#include <fmt/format.h>
#include <sstream>

#include "fd.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

namespace ckc {

Status UnshareTime() {
  if (::unshare(CLONE_NEWTIME) != 0) return ErrnoError("unshare", "CLONE_NEWTIME");
  return {};
}

std::string FormatTimensOffsets(const std::vector<TimensOffset>& offsets) {
  std::string out;
  for (const auto& o : offsets) out += fmt::format("{} {} {}\n", o.clock, o.seconds, o.nanoseconds);
  return out;
}

Status WriteTimensOffsets(pid_t pid, const std::vector<TimensOffset>& offsets) {
  return WriteFile(fmt::format("/proc/{}/timens_offsets", pid), FormatTimensOffsets(offsets));
}

Result<std::vector<TimensOffset>> ReadTimensOffsets(pid_t pid) {
  std::string path = fmt::format("/proc/{}/timens_offsets", pid);
  CKC_TRY(text, ReadFile(path));
  std::vector<TimensOffset> out;
  std::istringstream in(text);
  for (std::string name; in >> name;) {
    TimensOffset o;
    if (!(in >> o.seconds >> o.nanoseconds)) return Failure("parse", path, "short record");
    if (name == "monotonic") {
      o.clock = CLOCK_MONOTONIC;
    } else if (name == "boottime") {
      o.clock = CLOCK_BOOTTIME;
    } else {
      return Failure("parse", path, fmt::format("unknown clock `{}`", name));
    }
    out.push_back(o);
  }
  return out;
}

Result<int64_t> ClockNs(clockid_t clock) {
  timespec ts{};
  if (::clock_gettime(clock, &ts) != 0)
    return ErrnoError("clock_gettime", fmt::format("{}", clock));
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

Result<double> UptimeSeconds() {
  CKC_TRY(text, ReadFile("/proc/uptime"));
  std::istringstream in(text);
  double up = 0;
  if (!(in >> up)) return Failure("parse", "/proc/uptime", text);
  return up;
}

}  // namespace ckc

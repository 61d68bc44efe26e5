// Time namespaces (5.6): a new one for the caller's children, its clock offsets set through
// /proc/PID/timens_offsets before any process is in it, and the clocks it shifts.
//
//   CKC_CHECK(UnshareTime());          // the caller stays; its next children are placed inside
//   CKC_CHECK(WriteTimensOffsets(::getpid(), {{CLOCK_MONOTONIC, 3600}, {CLOCK_BOOTTIME, 7200}}));
//   CKC_TRY(offsets, ReadTimensOffsets(::getpid()));   // of time_for_children
//   CKC_TRY(now, ClockNs(CLOCK_MONOTONIC));  CKC_TRY(up, UptimeSeconds());
//
// Writing needs CAP_SYS_TIME in the user namespace that owns the time namespace, and fails with
// EACCES once a process has been placed in it (time_namespaces(7)).
#pragma once

#include <sys/types.h>
#include <time.h>

#include <cstdint>
#include <string>
#include <vector>

#include "result.h"

namespace ckc {

struct TimensOffset {
  clockid_t clock = CLOCK_MONOTONIC;  // CLOCK_MONOTONIC or CLOCK_BOOTTIME
  int64_t seconds = 0;
  long nanoseconds = 0;  // 0..999999999
  friend bool operator==(const TimensOffset&, const TimensOffset&) = default;
};

// unshare(CLONE_NEWTIME).
[[nodiscard]] Status UnshareTime();
// "<clock id> <secs> <nsecs>" records, written in one write(2) to /proc/PID/timens_offsets
// (the file of the process's time_for_children namespace).
[[nodiscard]] Status WriteTimensOffsets(pid_t pid, const std::vector<TimensOffset>& offsets);
// The records of /proc/PID/timens_offsets ("monotonic 0 0", "boottime 0 0").
[[nodiscard]] Result<std::vector<TimensOffset>> ReadTimensOffsets(pid_t pid);
// The text written for `offsets` ("1 3600 0\n7 7200 0\n": numeric clock ids, accepted by every
// kernel with time namespaces).
[[nodiscard]] std::string FormatTimensOffsets(const std::vector<TimensOffset>& offsets);

// clock_gettime(clock) in nanoseconds.
[[nodiscard]] Result<int64_t> ClockNs(clockid_t clock);
// The first field of /proc/uptime (seconds since boot, in the reader's time namespace).
[[nodiscard]] Result<double> UptimeSeconds();

}  // namespace ckc

// Pure checks that decide whether a benchmark round measured what its name says (no system
// calls here: the callers read the files, these functions judge the text and the numbers, so
// unit tests cover them without root).
//
//   ThpModeProblem(ReadFile(".../transparent_hugepage/enabled"))  -> "" or "thp:never (...)"
//   ThpCounters a = ParseThpCounters(vmstat_before), b = ...after;
//   ThpFaultProblem(a, b)        -> "" or "thp:fallback 3 of 16" / "thp:none (...)"
//   CacheDropProblem(7, 4096)    -> "cache:not-dropped 7 of 4096 pages resident ..."
//   IsSkipReason(error_message)  -> the host lacks something (a skip), not a broken measurement
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ckc::bench {

// /proc/vmstat's transparent-huge-page fault counters (system-wide).
struct ThpCounters {
  uint64_t fault_alloc = 0;     // thp_fault_alloc: a fault got a huge page
  uint64_t fault_fallback = 0;  // thp_fault_fallback: a fault wanted one and got 4 KiB pages
};
[[nodiscard]] ThpCounters ParseThpCounters(std::string_view vmstat);

// Why MADV_HUGEPAGE cannot give huge pages here ("" when it can): `enabled` is the text of
// /sys/kernel/mm/transparent_hugepage/enabled, nullopt when the file does not exist.
[[nodiscard]] std::string ThpModeProblem(const std::optional<std::string>& enabled);

// Why a THP round did not measure huge-page faults ("" when it did): any fallback, or no huge
// page allocated at all between the two readings.
[[nodiscard]] std::string ThpFaultProblem(const ThpCounters& before, const ThpCounters& after);

// Why a page-cache read round would not read from a cold cache ("" when it would): more than
// 1 % of the file's pages still resident after posix_fadvise(DONTNEED) (a few can be in flight
// on a per-CPU LRU batch).
[[nodiscard]] std::string CacheDropProblem(std::size_t resident_pages, std::size_t pages);

// True for an error message whose reason says the host lacks what the case needs (needs:,
// config:, kernel:, thp:never, thp:unavailable): a documented skip. Anything else is an error.
[[nodiscard]] bool IsSkipReason(std::string_view error_message);

}  // namespace ckc::bench

#include "checks.h"

#include <fmt/format.h>

#include <array>
#include <charconv>

namespace ckc::bench {

namespace {

// The value of `key` in "key value" lines, 0 when absent.
uint64_t VmstatValue(std::string_view text, std::string_view key) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    std::string_view line = text.substr(pos, end == std::string_view::npos ? end : end - pos);
    pos = end == std::string_view::npos ? text.size() : end + 1;
    if (line.size() <= key.size() || !line.starts_with(key) || line[key.size()] != ' ') continue;
    std::string_view num = line.substr(key.size() + 1);
    uint64_t v = 0;
    std::from_chars(num.data(), num.data() + num.size(), v);
    return v;
  }
  return 0;
}

}  // namespace

ThpCounters ParseThpCounters(std::string_view vmstat) {
  return {VmstatValue(vmstat, "thp_fault_alloc"), VmstatValue(vmstat, "thp_fault_fallback")};
}

std::string ThpModeProblem(const std::optional<std::string>& enabled) {
  if (!enabled) return "thp:unavailable (no /sys/kernel/mm/transparent_hugepage)";
  if (enabled->find("[never]") != std::string::npos)
    return "thp:never (transparent_hugepage/enabled is [never])";
  return "";
}

std::string ThpFaultProblem(const ThpCounters& before, const ThpCounters& after) {
  uint64_t alloc = after.fault_alloc - before.fault_alloc;
  uint64_t fallback = after.fault_fallback - before.fault_fallback;
  if (fallback > 0) return fmt::format("thp:fallback {} of {}", fallback, alloc + fallback);
  if (alloc == 0) return "thp:none (no huge page was allocated: 4 KiB faults, not THP)";
  return "";
}

std::string CacheDropProblem(std::size_t resident_pages, std::size_t pages) {
  if (resident_pages * 100 <= pages) return "";
  return fmt::format("cache:not-dropped {} of {} pages resident after posix_fadvise(DONTNEED)",
                     resident_pages, pages);
}

bool IsSkipReason(std::string_view error_message) {
  static constexpr std::array<std::string_view, 5> kSkips = {
      "needs:", "config:", "kernel:", "thp:never", "thp:unavailable"};
  for (std::string_view p : kSkips) {
    if (error_message.starts_with(p)) return true;
  }
  return false;
}

}  // namespace ckc::bench

#include "kernel.h"

#include <sys/utsname.h>
#include <unistd.h>
#include <zlib.h>

#include <fmt/format.h>
#include <algorithm>
#include <cstdlib>
#include <ranges>
#include <sstream>

#include "fd.h"

namespace ckc {

namespace {

std::string Trim(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.remove_suffix(1);
  return std::string(s);
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  for (auto part : s | std::views::split(sep)) out.emplace_back(part.begin(), part.end());
  return out;
}

}  // namespace

KernelRelease GetKernelRelease() {
  utsname u{};
  ::uname(&u);
  return {u.release, u.version, u.machine};
}

Tristate KernelConfig::Has(std::string_view option) const {
  if (source.empty()) return Tristate::kUnknown;
  auto it = values.find(std::string(option));
  if (it == values.end()) return Tristate::kNo;
  return (it->second == "y" || it->second == "m") ? Tristate::kYes : Tristate::kNo;
}

bool KernelConfig::CompiledOut(std::string_view option) const {
  if (option.empty() || Has(option) != Tristate::kNo) return false;
  if (!option.ends_with("_V1")) return true;
  auto it = values.find(std::string(option));
  return it != values.end() && it->second == "n";
}

KernelConfig ParseKernelConfig(std::string_view text, std::string source) {
  KernelConfig cfg;
  cfg.source = std::move(source);
  for (std::string_view line : Split(text, '\n')) {
    if (line.starts_with("CONFIG_")) {
      auto eq = line.find('=');
      if (eq != std::string_view::npos) {
        cfg.values.emplace(line.substr(0, eq), Trim(line.substr(eq + 1)));
      }
    } else if (line.starts_with("# CONFIG_") && line.ends_with(" is not set")) {
      auto name = line.substr(2, line.size() - 2 - std::string_view(" is not set").size());
      cfg.values.emplace(name, "n");
    }
  }
  return cfg;
}

Result<std::string> Gunzip(std::string_view compressed, std::string_view name) {
  z_stream zs{};
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) return Failure("inflateInit2", name, "zlib");
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  zs.avail_in = static_cast<uInt>(compressed.size());
  std::string out;
  char buf[65536];
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&zs);
      return Failure("inflate", name, fmt::format("zlib error {}", rc));
    }
    out.append(buf, sizeof buf - zs.avail_out);
    if (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) break;
  }
  inflateEnd(&zs);
  return out;
}

KernelConfig LoadKernelConfig() {
  std::string release = GetKernelRelease().release;
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("CKC_KERNEL_CONFIG"); env && *env) candidates.emplace_back(env);
  candidates.emplace_back("/proc/config.gz");
  candidates.push_back(fmt::format("/boot/config-{}", release));
  candidates.push_back(fmt::format("/lib/modules/{}/config", release));
  for (const std::string& path : candidates) {
    auto raw = ReadFile(path);
    if (!raw) continue;
    if (path.ends_with(".gz")) {
      auto text = Gunzip(*raw, path);
      if (text) return ParseKernelConfig(*text, path);
      continue;
    }
    return ParseKernelConfig(*raw, path);
  }
  return {};
}

const KernelConfig& RunningKernelConfig() {
  static const KernelConfig config = LoadKernelConfig();
  return config;
}

std::string_view CgroupModeName(CgroupMode mode) {
  switch (mode) {
    case CgroupMode::kV1:
      return "v1";
    case CgroupMode::kV2:
      return "v2";
    case CgroupMode::kHybrid:
      return "hybrid";
    case CgroupMode::kNone:
      break;
  }
  return "none";
}

const CgroupMountPoint* CgroupLayout::V1Mount(std::string_view controller) const {
  for (const auto& m : mounts) {
    if (m.version == 1 && std::ranges::find(m.controllers, controller) != m.controllers.end())
      return &m;
  }
  return nullptr;
}

const CgroupMountPoint* CgroupLayout::V2Mount() const {
  for (const auto& m : mounts) {
    if (m.version == 2) return &m;
  }
  return nullptr;
}

namespace {
// Mountinfo escapes spaces and the like as \040.
std::string Unescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      int v = 0;
      bool ok = true;
      for (size_t k = 1; k <= 3; ++k) {
        char c = s[i + k];
        if (c < '0' || c > '7') ok = false;
        v = v * 8 + (c - '0');
      }
      if (ok) {
        out.push_back(static_cast<char>(v));
        i += 3;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}
}  // namespace

CgroupLayout DetectCgroupLayout(std::string_view mountinfo) {
  CgroupLayout layout;
  bool v1_controllers = false;
  for (std::string_view line : Split(mountinfo, '\n')) {
    auto dash = line.find(" - ");
    if (dash == std::string_view::npos) continue;
    auto pre = Split(line.substr(0, dash), ' ');
    auto post = Split(line.substr(dash + 3), ' ');
    if (pre.size() < 5 || post.size() < 3) continue;
    std::string_view fstype = post[0];
    if (fstype != "cgroup" && fstype != "cgroup2") continue;
    CgroupMountPoint m;
    m.root = Unescape(pre[3]);
    m.path = Unescape(pre[4]);
    m.version = fstype == "cgroup2" ? 2 : 1;
    if (m.version == 1) {
      for (std::string_view opt : Split(post[2], ',')) {
        if (opt == "rw" || opt == "ro" || opt.starts_with("release_agent") ||
            opt == "clone_children" || opt == "noprefix" || opt == "xattr" ||
            opt == "cpuset_v2_mode" || opt == "favordynmods") {
          continue;
        }
        m.controllers.emplace_back(opt);
        if (!opt.starts_with("name=")) v1_controllers = true;
      }
    }
    layout.mounts.push_back(std::move(m));
  }
  bool v2 = layout.V2Mount() != nullptr;
  if (v1_controllers && v2) {
    layout.mode = CgroupMode::kHybrid;
  } else if (v1_controllers) {
    layout.mode = CgroupMode::kV1;
  } else if (v2) {
    layout.mode = CgroupMode::kV2;
  }
  return layout;
}

Result<CgroupLayout> CurrentCgroupLayout() {
  CKC_TRY(text, ReadFile("/proc/self/mountinfo"));
  return DetectCgroupLayout(text);
}

SwapInfo ParseSwap(std::string_view meminfo, std::string_view swaps) {
  SwapInfo info;
  for (std::string_view line : Split(meminfo, '\n')) {
    auto field = [&](std::string_view key, uint64_t& out) {
      if (!line.starts_with(key)) return;
      std::string rest(line.substr(key.size()));
      out = std::strtoull(rest.c_str(), nullptr, 10);
    };
    field("SwapTotal:", info.total_kib);
    field("SwapFree:", info.free_kib);
  }
  auto lines = Split(swaps, '\n');
  for (size_t i = 1; i < lines.size(); ++i) {
    if (!lines[i].empty()) ++info.devices;
  }
  return info;
}

SwapInfo CurrentSwap() {
  return ParseSwap(ReadFile("/proc/meminfo").value_or(""), ReadFile("/proc/swaps").value_or(""));
}

std::vector<std::string> ActiveLsms() {
  std::vector<std::string> out;
  auto text = ReadFile("/sys/kernel/security/lsm");
  if (!text) return out;
  // Keep the trimmed text alive: temporaries inside a range-for initializer die before the loop
  // body (before C++23's P2718, which GCC 12 lacks), and Split returns views into it.
  std::string list(Trim(*text));
  for (std::string_view name : Split(list, ',')) {
    if (!name.empty()) out.emplace_back(name);
  }
  return out;
}

Result<std::string> ReadSysctl(std::string_view dotted_name) {
  std::string path = "/proc/sys/";
  for (char c : dotted_name) path.push_back(c == '.' ? '/' : c);
  CKC_TRY(text, ReadFile(path));
  return Trim(text);
}

uint64_t MemTotalKib() {
  auto text = ReadFile("/proc/meminfo").value_or("");
  for (std::string_view line : Split(text, '\n')) {
    if (line.starts_with("MemTotal:")) {
      return std::strtoull(std::string(line.substr(9)).c_str(), nullptr, 10);
    }
  }
  return 0;
}

int OnlineCpus() { return static_cast<int>(::sysconf(_SC_NPROCESSORS_ONLN)); }

std::string KernelCmdline() { return Trim(ReadFile("/proc/cmdline").value_or("")); }

bool CmdlineHas(std::string_view cmdline, std::string_view key, std::string_view value) {
  for (auto word : std::views::split(cmdline, ' ')) {
    std::string_view w(word.begin(), word.end());
    if (w == "--") break;  // what follows is init's, not the kernel's
    if (!w.starts_with(key) || w.size() <= key.size() || w[key.size()] != '=') continue;
    for (auto item : std::views::split(w.substr(key.size() + 1), ',')) {
      if (std::string_view(item.begin(), item.end()) == value) return true;
    }
  }
  return false;
}

bool CgroupDisabledOnCmdline(std::string_view cmdline, std::string_view controller) {
  return CmdlineHas(cmdline, "cgroup_disable", controller);
}

}  // namespace ckc

// The guard's picture from facts, its comparison and its JSON form (no host access here: the
// live host is read in guard_host.cpp).
#include "guard.h"

#include <linux/if.h>

#include <fmt/format.h>
#include <algorithm>
#include <set>
#include <sstream>

namespace ckc {

namespace {

using nlohmann::json;

constexpr int kPictureSchema = 2;

std::vector<std::string> Words(std::string_view line) {
  std::vector<std::string> out;
  std::istringstream in{std::string(line)};
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

std::string Join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : std::string(sep)) + p;
  return out;
}

// shared:12 master:3 -> "shared,master"; no optional field -> "private".
std::string Propagation(const std::vector<std::string>& optional) {
  std::vector<std::string> kinds;
  for (const auto& o : optional) kinds.push_back(o.substr(0, o.find(':')));
  return kinds.empty() ? "private" : Join(kinds, ",");
}

std::string Shown(const std::string& value) { return value.empty() ? "(none)" : value; }

// A loop device appearing or vanishing detached is LOOP_CTL_GET_FREE growing the kernel's pool.
bool IgnoredAddOrRemove(const std::string& section, const std::string& value) {
  return section == "loop" && value.starts_with("detached");
}

}  // namespace

const std::vector<std::string> kGuardedSysctls = {
    "kernel.pid_max",
    "kernel.threads-max",
    "kernel.overflowuid",
    "kernel.overflowgid",
    "kernel.perf_event_paranoid",
    "kernel.yama.ptrace_scope",
    "kernel.unprivileged_userns_clone",
    "kernel.unprivileged_bpf_disabled",
    "kernel.apparmor_restrict_unprivileged_userns",
    "kernel.seccomp.actions_logged",
    "kernel.shmmax",
    "kernel.shmall",
    "kernel.shmmni",
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "vm.overcommit_memory",
    "vm.overcommit_ratio",
    "vm.swappiness",
    "vm.nr_hugepages",
    "vm.max_map_count",
    "vm.panic_on_oom",
    "vm.oom_kill_allocating_task",
    "vm.min_free_kbytes",
    "vm.dirty_ratio",
    "vm.dirty_background_ratio",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_forward",
    "net.ipv4.ip_default_ttl",
    "net.ipv4.tcp_rmem",
    "net.ipv4.tcp_wmem",
    "net.ipv4.conf.all.forwarding",
    "net.ipv6.conf.all.forwarding",
    "net.ipv6.conf.all.disable_ipv6",
    "net.core.devconf_inherit_init_net",
    "net.core.somaxconn",
    "fs.nr_open",
    "fs.file-max",
    "fs.mount-max",
    "fs.protected_symlinks",
    "fs.protected_hardlinks",
    "fs.inotify.max_user_instances",
    "fs.inotify.max_user_watches",
};

GuardSection NormalizeMountinfo(std::string_view mountinfo) {
  GuardSection out;
  std::istringstream in{std::string(mountinfo)};
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> f = Words(line);
    auto dash = std::ranges::find(f, "-");
    // id parent major:minor root mountpoint options [optional...] - fstype source superoptions
    if (f.size() < 10 || dash == f.end() || dash - f.begin() < 6 || f.end() - dash < 4) continue;
    std::vector<std::string> optional(f.begin() + 6, dash);
    std::string value = fmt::format("{} {} {} {} {} {}", dash[1], dash[2], f[3], f[5], dash[3],
                                    Propagation(optional));
    std::string key = f[4];
    for (int n = 2; out.contains(key); ++n) key = fmt::format("{} ({})", f[4], n);
    out[key] = value;
  }
  return out;
}

GuardSection NormalizeSwaps(std::string_view swaps) {
  GuardSection out;
  std::istringstream in{std::string(swaps)};
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> f = Words(line);
    if (f.size() < 5 || f[0] == "Filename") continue;
    out[f[0]] = fmt::format("{} {} KiB, priority {}", f[1], f[2], f[4]);
  }
  return out;
}

std::string LinkFlagNames(unsigned flags) {
  static const std::pair<unsigned, const char*> kNames[] = {
      {IFF_UP, "up"},
      {IFF_BROADCAST, "broadcast"},
      {IFF_DEBUG, "debug"},
      {IFF_LOOPBACK, "loopback"},
      {IFF_POINTOPOINT, "pointopoint"},
      {IFF_NOTRAILERS, "notrailers"},
      {IFF_NOARP, "noarp"},
      {IFF_PROMISC, "promisc"},
      {IFF_ALLMULTI, "allmulti"},
      {IFF_MASTER, "master"},
      {IFF_SLAVE, "slave"},
      {IFF_MULTICAST, "multicast"},
      {IFF_PORTSEL, "portsel"},
      {IFF_AUTOMEDIA, "automedia"},
      {IFF_DYNAMIC, "dynamic"},
      {IFF_ECHO, "echo"},
  };
  std::vector<std::string> names;
  for (const auto& [bit, name] : kNames) {
    if (flags & bit) names.emplace_back(name);
  }
  return names.empty() ? "none" : Join(names, ",");
}

HostPicture MakePicture(const HostFacts& f) {
  HostPicture p;
  p["uts"] = {{"hostname", f.hostname}, {"domainname", f.domainname}};
  p["sysctl"] = {f.sysctls.begin(), f.sysctls.end()};
  p["swap"] = NormalizeSwaps(f.swaps);
  for (const auto& z : f.zram)
    p["zram"][z.name] = fmt::format("disksize {}, algorithm {}", z.disksize, Shown(z.algorithm));
  for (const auto& l : f.loops) {
    p["loop"][l.name] =
        l.backing.empty() ? fmt::format("detached, scheduler {}", Shown(l.scheduler))
                          : fmt::format("backing {}, scheduler {}", l.backing, Shown(l.scheduler));
  }
  for (const auto& [mount, value] : f.subtree_control)
    p["cgroup2 root"][mount + " subtree_control"] = value;
  for (const auto& [path, what] : f.ckc_cgroups) p["ckc cgroup"][path] = "(" + what + ")";
  for (const auto& [path, what] : f.ckc_leftovers) p["ckc leftover"][path] = "(" + what + ")";
  for (const auto& l : f.links) {
    std::string v =
        fmt::format("index {}, mtu {}, flags {}", l.index, l.mtu, LinkFlagNames(l.flags));
    if (!l.kind.empty()) v += ", kind " + l.kind;
    p["link"][l.name] = v;
  }
  for (const auto& a : f.addresses) p["address"][a] = "";
  for (const auto& r : f.routes) p["route"][r] = "";
  p["mount"] = NormalizeMountinfo(f.mountinfo);
  return p;
}

std::vector<std::string> ComparePictures(const HostPicture& before, const HostPicture& after) {
  std::vector<std::string> out;
  std::set<std::string> sections;
  for (const auto& [name, _] : before) sections.insert(name);
  for (const auto& [name, _] : after) sections.insert(name);
  static const GuardSection kEmpty;
  for (const auto& name : sections) {
    const GuardSection& a = before.contains(name) ? before.at(name) : kEmpty;
    const GuardSection& b = after.contains(name) ? after.at(name) : kEmpty;
    auto entry = [](const std::string& key, const std::string& value) {
      return value.empty() ? key : key + " " + value;
    };
    for (const auto& [key, value] : a) {
      auto it = b.find(key);
      if (it == b.end()) {
        if (!IgnoredAddOrRemove(name, value))
          out.push_back(fmt::format("{} removed: {}", name, entry(key, value)));
      } else if (it->second != value) {
        out.push_back(fmt::format("{} {}: {} -> {}", name, key, Shown(value), Shown(it->second)));
      }
    }
    for (const auto& [key, value] : b) {
      if (!a.contains(key) && !IgnoredAddOrRemove(name, value))
        out.push_back(fmt::format("{} added: {}", name, entry(key, value)));
    }
  }
  return out;
}

std::string DescribeChanges(const std::vector<std::string>& differences) {
  return "the host changed during the run:\n  " + Join(differences, "\n  ");
}

json PictureToJson(const HostPicture& picture) {
  json sections = json::object();
  for (const auto& [name, entries] : picture) {
    json section = json::object();  // an empty map would not become an object
    for (const auto& [key, value] : entries) section[key] = value;
    sections[name] = std::move(section);
  }
  return {{"schema", kPictureSchema}, {"sections", sections}};
}

Result<HostPicture> PictureFromJson(const json& j) {
  if (!j.is_object() || j.value("schema", 0) != kPictureSchema || !j.contains("sections") ||
      !j["sections"].is_object()) {
    return Failure("guard picture", "json",
                   fmt::format("not a picture of schema {} (an older guard's snapshot? run "
                               "HostGuard.Snapshot again)",
                               kPictureSchema));
  }
  HostPicture p;
  for (const auto& [name, entries] : j["sections"].items()) {
    if (!entries.is_object()) return Failure("guard picture", name, "section is not an object");
    GuardSection& section = p[name];
    for (const auto& [key, value] : entries.items()) {
      if (!value.is_string()) return Failure("guard picture", name + "/" + key, "not a string");
      section[key] = value.get<std::string>();
    }
  }
  return p;
}

SweepVerdict JudgeSweeps(const std::vector<SweepEntry>& entries) {
  SweepVerdict v;
  for (const auto& e : entries) (e.normal() ? v.failures : v.reports).push_back(e.Describe());
  return v;
}

}  // namespace ckc

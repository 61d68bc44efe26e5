// The guard's facts from the live host: /proc, /sys, the cgroup trees, rtnetlink (netlink.h)
// and getifaddrs(3) for addresses; and the sweep log since a mark.
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#include <fmt/format.h>
#include <algorithm>
#include <bit>
#include <filesystem>
#include <set>
#include <sstream>

#include "fd.h"
#include "guard.h"
#include "kernel.h"
#include "netlink.h"

namespace ckc {

namespace {

namespace fs = std::filesystem;

std::string Trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// "none [mq-deadline] bfq" -> "mq-deadline"
std::string Selected(const std::string& text) {
  auto open = text.find('['), close = text.find(']');
  if (open == std::string::npos || close == std::string::npos) return Trimmed(text);
  return text.substr(open + 1, close - open - 1);
}

// Liveness asked once per run id per picture.
class Liveness {
 public:
  bool Alive(const std::string& id) {
    auto it = cache_.find(id);
    if (it == cache_.end()) it = cache_.emplace(id, RunIsAlive(id)).first;
    return it->second;
  }
  // True for a path inside a live run's directory or cgroup.
  bool OwnsPath(const std::string& path) {
    auto id = RunIdInPath(path);
    return id && Alive(*id);
  }

 private:
  std::map<std::string, bool> cache_;
};

std::vector<std::string> BlockDevices(std::string_view prefix) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/sys/block", ec)) {
    std::string name = e.path().filename();
    if (name.starts_with(prefix)) out.push_back(name);
  }
  std::ranges::sort(out);
  return out;
}

void ReadSysctls(HostFacts& f) {
  std::vector<std::string> names = kGuardedSysctls;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc/sys/user", ec))
    names.push_back("user." + e.path().filename().string());
  for (const auto& name : names) {
    auto value = ReadSysctl(name);
    if (!value) continue;  // not on this kernel
    std::ranges::replace(*value, '\t', ' ');
    f.sysctls[name] = *value;
  }
}

void ReadDevices(HostFacts& f, Liveness& live, const std::vector<RunRecord>& runs) {
  std::set<std::string> live_devices;
  for (const auto& r : runs) {
    for (const auto& d : r.devices) {
      if (live.Alive(r.id)) live_devices.insert(d.device);
    }
  }
  std::istringstream swaps(ReadFile("/proc/swaps").value_or(""));
  for (std::string line; std::getline(swaps, line);) {
    std::string dev = line.substr(0, line.find_first_of(" \t"));
    if (!dev.starts_with("/dev/") || !live_devices.contains(dev.substr(5))) f.swaps += line + "\n";
  }
  for (const auto& name : BlockDevices("zram")) {
    if (live_devices.contains(name)) continue;
    std::string sys = "/sys/block/" + name;
    f.zram.push_back({name, Trimmed(ReadFile(sys + "/disksize").value_or("?")),
                      Selected(ReadFile(sys + "/comp_algorithm").value_or(""))});
  }
  for (const auto& name : BlockDevices("loop")) {
    std::string sys = "/sys/block/" + name;
    std::string backing = Trimmed(ReadFile(sys + "/loop/backing_file").value_or(""));
    if (live_devices.contains(name) || (!backing.empty() && live.OwnsPath(backing))) continue;
    f.loops.push_back({name, backing, Selected(ReadFile(sys + "/queue/scheduler").value_or(""))});
  }
}

// Every group named ckc-* below `mount` that is not a live run's, with what its tree holds.
void ReadCkcCgroups(HostFacts& f, Liveness& live, const std::string& mount) {
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(mount, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (!it->is_directory(ec) || it->is_symlink(ec)) continue;
    std::string name = it->path().filename();
    if (!name.starts_with("ckc-")) continue;
    it.disable_recursion_pending();  // its tree is described as one
    struct stat st {};
    // Another user's runs are compared by that user's guard.
    if (::lstat(it->path().c_str(), &st) != 0 || st.st_uid != ::geteuid()) continue;
    // Liveness first, then existence: a run removes its groups before its lock goes, so one that
    // ended meanwhile has left nothing behind.
    if (live.OwnsPath(it->path()) || !fs::exists(it->path())) continue;
    f.ckc_cgroups[it->path()] = InspectCgroupTree(it->path()).Describe();
  }
}

void ReadLeftovers(HostFacts& f, Liveness& live, const std::vector<RunRecord>& runs) {
  for (const auto& r : runs) {
    if (live.Alive(r.id)) continue;
    std::string record = fmt::format("{}/{}.lock", RunLockDir(), r.id);
    if (fs::exists(record))
      f.ckc_leftovers[record] = fmt::format("run record of a dead run, state {}", r.state);
    for (const auto& d : r.devices) {
      std::string path = fmt::format("{}/{}.dev.{}", RunLockDir(), r.id, d.device);
      if (fs::exists(path)) f.ckc_leftovers[path] = "device record of a dead run";
    }
  }
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(RunStateBase(), ec)) {
    std::string name = e.path().filename();
    if (e.is_directory(ec) && name.starts_with("ckc-") && !live.Alive(name.substr(4)) &&
        fs::exists(e.path()))
      f.ckc_leftovers[e.path()] = "state directory of a dead run";
  }
}

Status ReadNetwork(HostFacts& f) {
  CKC_TRY(nl, NetlinkSocket::Open());
  CKC_TRY(links, nl.Links());
  for (const auto& l : links) {
    int mtu = std::atoi(ReadFile("/sys/class/net/" + l.name + "/mtu").value_or("0").c_str());
    f.links.push_back({l.name, l.ifindex, l.flags, mtu, l.kind});
  }
  for (int family : {AF_INET, AF_INET6}) {
    CKC_TRY(routes, nl.Routes(family));
    for (const auto& r : routes)
      f.routes.push_back(fmt::format("{} {}", family == AF_INET ? "inet" : "inet6", r.Describe()));
  }
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return ErrnoError("getifaddrs");
  for (ifaddrs* a = list; a; a = a->ifa_next) {
    if (!a->ifa_addr || (a->ifa_addr->sa_family != AF_INET && a->ifa_addr->sa_family != AF_INET6))
      continue;
    bool v4 = a->ifa_addr->sa_family == AF_INET;
    char text[INET6_ADDRSTRLEN] = {};
    const void* addr =
        v4 ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(a->ifa_addr)->sin_addr)
           : &reinterpret_cast<sockaddr_in6*>(a->ifa_addr)->sin6_addr;
    ::inet_ntop(a->ifa_addr->sa_family, addr, text, sizeof text);
    int prefix = 0;
    if (a->ifa_netmask) {
      const auto* m = reinterpret_cast<const unsigned char*>(
          v4 ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(a->ifa_netmask)->sin_addr)
             : &reinterpret_cast<sockaddr_in6*>(a->ifa_netmask)->sin6_addr);
      for (int i = 0; i < (v4 ? 4 : 16); ++i) prefix += std::popcount(m[i]);
    }
    f.addresses.push_back(
        fmt::format("{} {} {}/{}", a->ifa_name, v4 ? "inet" : "inet6", text, prefix));
  }
  ::freeifaddrs(list);
  std::ranges::sort(f.addresses);
  return {};
}

std::string MountsNotOfLiveRuns(const std::string& mountinfo, Liveness& live) {
  std::string out;
  std::istringstream in(mountinfo);
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::string id, parent, devno, root, mnt;
    fields >> id >> parent >> devno >> root >> mnt;
    if (!live.OwnsPath(mnt)) out += line + "\n";
  }
  return out;
}

}  // namespace

Result<HostFacts> ReadHostFacts() {
  HostFacts f;
  Liveness live;
  utsname u{};
  if (::uname(&u) != 0) return ErrnoError("uname");
  f.hostname = u.nodename;
  f.domainname = u.domainname;
  ReadSysctls(f);
  std::vector<RunRecord> runs = RecordedRuns();
  ReadDevices(f, live, runs);
  if (auto layout = CurrentCgroupLayout()) {
    std::set<std::string> seen;
    for (const auto& m : layout->mounts) {
      if (!seen.insert(m.path).second) continue;
      if (m.version == 2)
        f.subtree_control[m.path] =
            Trimmed(ReadFile(m.path + "/cgroup.subtree_control").value_or("?"));
      ReadCkcCgroups(f, live, m.path);
    }
  }
  ReadLeftovers(f, live, runs);
  CKC_CHECK(ReadNetwork(f));
  CKC_TRY(mountinfo, ReadFile("/proc/self/mountinfo"));
  f.mountinfo = MountsNotOfLiveRuns(mountinfo, live);
  return f;
}

SweepLogMark SweepLogEnd() {
  struct stat st {};
  if (::stat(SweepLogPath().c_str(), &st) != 0) return {};
  return {static_cast<uint64_t>(st.st_ino), static_cast<uint64_t>(st.st_size)};
}

std::vector<SweepEntry> SweepEntriesSince(const SweepLogMark& mark) {
  auto tail = [](const std::string& path, uint64_t inode, uint64_t offset) -> std::string {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || static_cast<uint64_t>(st.st_ino) != inode) return "";
    std::string text = ReadFile(path).value_or("");
    return offset <= text.size() ? text.substr(offset) : "";
  };
  std::string path = SweepLogPath();
  SweepLogMark now = SweepLogEnd();
  std::string text;
  if (mark.inode != 0 && now.inode == mark.inode) {
    text = tail(path, mark.inode, mark.offset);
  } else {
    // Rotated since the mark (or there was no log then): the rest of the old one, all of this.
    if (mark.inode != 0) text = tail(path + ".old", mark.inode, mark.offset);
    text += ReadFile(path).value_or("");
  }
  return ParseSweepLog(text);
}

}  // namespace ckc

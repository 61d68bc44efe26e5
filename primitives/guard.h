// The host guard's picture: what a run could change on the host, read into named sections of
// key -> value, kept as JSON between the guard's two steps, and compared into sentences.
//
//   CKC_TRY(facts, ReadHostFacts());                     // the live host (guard_host.cpp)
//   HostPicture before = MakePicture(facts);             // facts -> sections (pure)
//   json saved = PictureToJson(before);  ...  PictureFromJson(saved)
//   for (auto& d : ComparePictures(before, MakePicture(*ReadHostFacts()))) puts(d.c_str());
//       // "sysctl vm.swappiness: 60 -> 10", "mount added: /tmp/x tmpfs tmpfs / rw,relatime ..."
//
// Sections: uts, sysctl (kGuardedSysctls and every user.*), swap (/proc/swaps without its Used
// column), zram (disksize, algorithm), loop (backing file, scheduler), cgroup2 root (the
// subtree_control of every cgroup2 mount), ckc cgroup (every group named ckc-* at any depth, with
// the processes in its tree), ckc leftover (state directories and run records of dead runs),
// link (index, MTU, flags without the carrier bits), address, route (every table), mount (one
// entry per mount point: type, source, root, options, propagation; mount IDs, device numbers
// and peer-group numbers are allocation noise and left out).
//
// What belongs to a run that is still alive (its cgroups, loop devices and zram, mounts under
// its directories) is left out: it is that run's until it ends, and then the next picture sees
// whatever it left. A loop device appearing or vanishing detached is the kernel's pool, not a
// change; its scheduler is compared.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "result.h"
#include "run_scope.h"

namespace ckc {

struct LinkFact {
  std::string name;
  int index = 0;
  unsigned flags = 0;  // IFF_*
  int mtu = 0;
  std::string kind;  // "veth"; empty for plain devices
};
struct LoopFact {
  std::string name;     // loop3
  std::string backing;  // empty: detached
  std::string scheduler;
};
struct ZramFact {
  std::string name;  // zram1
  std::string disksize;
  std::string algorithm;
};

// The host as read, before normalisation: text where the kernel gives text, so fixtures can
// stand in for it.
struct HostFacts {
  std::string hostname, domainname;
  std::map<std::string, std::string> sysctls;
  std::string swaps;      // /proc/swaps
  std::string mountinfo;  // /proc/self/mountinfo
  std::vector<ZramFact> zram;
  std::vector<LoopFact> loops;
  std::map<std::string, std::string> subtree_control;  // cgroup2 mount -> its root's
  std::map<std::string, std::string> ckc_cgroups;      // path -> CgroupTreeFacts::Describe()
  std::map<std::string, std::string> ckc_leftovers;    // path -> what it is
  std::vector<LinkFact> links;
  std::vector<std::string> addresses;  // "eth0 inet 10.0.2.15/24"
  std::vector<std::string> routes;     // "inet default via 10.0.2.2 dev#2 table 254"
};

// The sysctls the suites work next to (namespace limits, pid and memory knobs, unprivileged
// networking, forwarding); every user.* key is added to them.
extern const std::vector<std::string> kGuardedSysctls;

using GuardSection = std::map<std::string, std::string>;
using HostPicture = std::map<std::string, GuardSection>;  // section name -> key -> value

[[nodiscard]] HostPicture MakePicture(const HostFacts& facts);
// One entry per mount point ("/a", a second mount stacked on it "/a (2)").
[[nodiscard]] GuardSection NormalizeMountinfo(std::string_view mountinfo);
// Device -> "type size priority" (Used changes all the time).
[[nodiscard]] GuardSection NormalizeSwaps(std::string_view swaps);
// "up,broadcast,multicast" (running, lower_up and dormant are carrier state, left out).
[[nodiscard]] std::string LinkFlagNames(unsigned flags);

// Each difference as a sentence: "<section> added: <key> <value>", "<section> removed: ...",
// "<section> <key>: <before> -> <after>".
[[nodiscard]] std::vector<std::string> ComparePictures(const HostPicture& before,
                                                       const HostPicture& after);
// The guard's failure text: "the host changed during the run:\n  <difference>\n  ...".
[[nodiscard]] std::string DescribeChanges(const std::vector<std::string>& differences);

[[nodiscard]] nlohmann::json PictureToJson(const HostPicture& picture);
[[nodiscard]] Result<HostPicture> PictureFromJson(const nlohmann::json& json);

// The live host, seen from this process (its mount and network namespace).
[[nodiscard]] Result<HostFacts> ReadHostFacts();

// Where the sweep log ends now, so a later step reads only what was swept after it.
struct SweepLogMark {
  uint64_t inode = 0;
  uint64_t offset = 0;
};
[[nodiscard]] SweepLogMark SweepLogEnd();
// Entries appended since `mark` (following one rotation to sweep.log.old).
[[nodiscard]] std::vector<SweepEntry> SweepEntriesSince(const SweepLogMark& mark);

// A sweep of a run that ended normally is a failure (the run left something behind); a sweep
// of a run that died is only reported.
struct SweepVerdict {
  std::vector<std::string> failures;
  std::vector<std::string> reports;
};
[[nodiscard]] SweepVerdict JudgeSweeps(const std::vector<SweepEntry>& entries);

}  // namespace ckc

// Traffic control through libnl-route-3 (no hand-written netlink): htb qdiscs, htb
// classes, a cls_cgroup filter that classifies by the sender's net_cls.classid, and per-class
// packet counters.
//
//   CKC_CHECK(AddHtbQdisc(nl, "ckc0", 1, 2));         // 1: htb, unclassified traffic -> 1:2
//   CKC_CHECK(AddHtbClass(nl, "ckc0", 1, 2, 1 << 30));  CKC_CHECK(AddHtbClass(nl, "ckc0", 1, 3,
//   ...)); CKC_CHECK(AddCgroupFilter(nl, "ckc0", 1));        // on parent 1: CKC_TRY(n,
//   ClassPackets(nl, "ckc0", 1, 3));       // packets sent through class 1:3
//
// Everything belongs to the device: deleting the link (or its namespace) removes it.
#pragma once

#include <cstdint>
#include <string_view>

#include "netlink.h"
#include "result.h"

namespace ckc {

// A root htb qdisc <major>: whose unclassified traffic goes to class <major>:<default_minor>.
[[nodiscard]] Status AddHtbQdisc(const NetlinkSocket& nl, std::string_view dev, uint32_t major,
                                 uint32_t default_minor);
// An htb class <major>:<minor> with `rate` (and ceil) in bytes per second.
[[nodiscard]] Status AddHtbClass(const NetlinkSocket& nl, std::string_view dev, uint32_t major,
                                 uint32_t minor, uint32_t rate);
// A cls_cgroup filter on parent <major>: (all protocols): packets of tasks whose net_cls.classid
// names a class of that qdisc go to that class.
[[nodiscard]] Status AddCgroupFilter(const NetlinkSocket& nl, std::string_view dev, uint32_t major);
// Packets sent through class <major>:<minor> of `dev`.
[[nodiscard]] Result<uint64_t> ClassPackets(const NetlinkSocket& nl, std::string_view dev,
                                            uint32_t major, uint32_t minor);

}  // namespace ckc

#include "netlink_tc.h"

#include <linux/if_ether.h>
#include <linux/pkt_sched.h>
#include <netlink/route/class.h>
#include <netlink/route/classifier.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/qdisc/htb.h>
#include <netlink/route/tc.h>

#include <fmt/format.h>
#include <memory>

namespace ckc {

namespace {

Result<int> IfIndex(const NetlinkSocket& nl, std::string_view dev) {
  CKC_TRY(link, nl.FindLink(dev));
  if (!link) return Failure("link", dev, "no such interface in this namespace");
  return link->ifindex;
}

}  // namespace

Status AddHtbQdisc(const NetlinkSocket& nl, std::string_view dev, uint32_t major,
                   uint32_t default_minor) {
  CKC_TRY(ifindex, IfIndex(nl, dev));
  std::unique_ptr<rtnl_qdisc, decltype(&rtnl_qdisc_put)> q(rtnl_qdisc_alloc(), &rtnl_qdisc_put);
  if (!q) return Failure("rtnl_qdisc_alloc", dev, "out of memory");
  rtnl_tc_set_ifindex(TC_CAST(q.get()), ifindex);
  rtnl_tc_set_parent(TC_CAST(q.get()), TC_H_ROOT);
  rtnl_tc_set_handle(TC_CAST(q.get()), TC_HANDLE(major, 0));
  if (int err = rtnl_tc_set_kind(TC_CAST(q.get()), "htb"); err < 0) {
    return std::unexpected(NlError(err, "rtnl_tc_set_kind", "htb"));
  }
  rtnl_htb_set_defcls(q.get(), default_minor);
  if (int err = rtnl_qdisc_add(nl.get(), q.get(), NLM_F_CREATE | NLM_F_EXCL); err < 0) {
    return std::unexpected(NlError(err, "rtnl_qdisc_add", fmt::format("{} htb {}:", dev, major)));
  }
  return {};
}

Status AddHtbClass(const NetlinkSocket& nl, std::string_view dev, uint32_t major, uint32_t minor,
                   uint32_t rate) {
  CKC_TRY(ifindex, IfIndex(nl, dev));
  std::unique_ptr<rtnl_class, decltype(&rtnl_class_put)> c(rtnl_class_alloc(), &rtnl_class_put);
  if (!c) return Failure("rtnl_class_alloc", dev, "out of memory");
  rtnl_tc_set_ifindex(TC_CAST(c.get()), ifindex);
  rtnl_tc_set_parent(TC_CAST(c.get()), TC_HANDLE(major, 0));
  rtnl_tc_set_handle(TC_CAST(c.get()), TC_HANDLE(major, minor));
  if (int err = rtnl_tc_set_kind(TC_CAST(c.get()), "htb"); err < 0) {
    return std::unexpected(NlError(err, "rtnl_tc_set_kind", "htb"));
  }
  rtnl_htb_set_rate(c.get(), rate);
  rtnl_htb_set_ceil(c.get(), rate);
  if (int err = rtnl_class_add(nl.get(), c.get(), NLM_F_CREATE | NLM_F_EXCL); err < 0) {
    return std::unexpected(
        NlError(err, "rtnl_class_add", fmt::format("{} htb {}:{}", dev, major, minor)));
  }
  return {};
}

Status AddCgroupFilter(const NetlinkSocket& nl, std::string_view dev, uint32_t major) {
  CKC_TRY(ifindex, IfIndex(nl, dev));
  std::unique_ptr<rtnl_cls, decltype(&rtnl_cls_put)> cls(rtnl_cls_alloc(), &rtnl_cls_put);
  if (!cls) return Failure("rtnl_cls_alloc", dev, "out of memory");
  rtnl_tc_set_ifindex(TC_CAST(cls.get()), ifindex);
  rtnl_tc_set_parent(TC_CAST(cls.get()), TC_HANDLE(major, 0));
  rtnl_tc_set_handle(TC_CAST(cls.get()), 1);  // cls_cgroup refuses a zero handle
  if (int err = rtnl_tc_set_kind(TC_CAST(cls.get()), "cgroup"); err < 0)
    return std::unexpected(NlError(err, "rtnl_tc_set_kind", "cgroup"));
  rtnl_cls_set_protocol(cls.get(), ETH_P_ALL);
  rtnl_cls_set_prio(cls.get(), 1);
  if (int err = rtnl_cls_add(nl.get(), cls.get(), NLM_F_CREATE | NLM_F_EXCL); err < 0) {
    return std::unexpected(
        NlError(err, "rtnl_cls_add", fmt::format("{} cgroup on {}:", dev, major)));
  }
  return {};
}

Result<uint64_t> ClassPackets(const NetlinkSocket& nl, std::string_view dev, uint32_t major,
                              uint32_t minor) {
  CKC_TRY(ifindex, IfIndex(nl, dev));
  nl_cache* raw = nullptr;
  if (int err = rtnl_class_alloc_cache(nl.get(), ifindex, &raw); err < 0) {
    return std::unexpected(NlError(err, "rtnl_class_alloc_cache", dev));
  }
  std::unique_ptr<nl_cache, decltype(&nl_cache_free)> cache(raw, &nl_cache_free);
  for (nl_object* o = nl_cache_get_first(raw); o; o = nl_cache_get_next(o)) {
    auto* tc = TC_CAST(o);
    if (rtnl_tc_get_handle(tc) == TC_HANDLE(major, minor))
      return rtnl_tc_get_stat(tc, RTNL_TC_PACKETS);
  }
  return Failure("class", fmt::format("{} {:x}:{:x}", dev, major, minor), "no such class");
}

}  // namespace ckc

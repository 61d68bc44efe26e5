// Capabilities over libcap: the process sets (effective, permitted, inheritable), the bounding
// and ambient sets, user switches that keep capabilities, and file capabilities.
//
//   CKC_CHECK(DropCapabilities({CAP_CHOWN}));               // from E, P and I
//   CKC_CHECK(SetCapabilities({CAP_NET_BIND_SERVICE}));      // exactly this set in E, P and I
//   CKC_CHECK(DropBounding(CAP_NET_BIND_SERVICE));           // PR_CAPBSET_DROP
//   CKC_CHECK(SwitchUser(65534, 65534, /*keep_caps=*/true)); // P survives, E is cleared
//   CKC_CHECK(RaiseAmbient(CAP_NET_BIND_SERVICE));           // must be in P and I
//   CKC_CHECK(SetFileCapabilities(path, "cap_net_bind_service=p"));
//   CKC_TRY(st, RunWithCapabilities({CAP_CHOWN}, [] { return ::chown(p, 1, 1) ? errno : 0; }));
//
// These change the calling process: tests call them in a child (RunInChild, Spawn, Sandbox)
// so the test binary keeps its privileges.
#pragma once

#include <sys/capability.h>
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "process.h"
#include "result.h"

namespace ckc {

enum class CapSet { kEffective, kPermitted, kInheritable };
using CapList = std::vector<cap_value_t>;

// "cap_chown"; "cap_42" for values libcap does not know.
[[nodiscard]] std::string CapabilityName(cap_value_t cap);
// The calling process's sets as libcap text ("cap_chown,cap_kill=ep").
[[nodiscard]] std::string ProcessCapabilities();

[[nodiscard]] Result<bool> HasCapability(cap_value_t cap, CapSet set);
// Exactly `caps` in the effective, permitted and inheritable sets.
[[nodiscard]] Status SetCapabilities(const CapList& caps);
// Clears `caps` from the given sets (all three by default).
[[nodiscard]] Status DropCapabilities(const CapList& caps,
                                      const std::vector<CapSet>& sets = {CapSet::kEffective,
                                                                         CapSet::kPermitted,
                                                                         CapSet::kInheritable});
// Sets `caps` in the given sets (raising into E or P needs them in P already).
[[nodiscard]] Status RaiseCapabilities(const CapList& caps, const std::vector<CapSet>& sets);

// Bounding set: PR_CAPBSET_DROP through cap_drop_bound (needs CAP_SETPCAP).
[[nodiscard]] Status DropBounding(cap_value_t cap);
[[nodiscard]] Result<bool> InBounding(cap_value_t cap);

// Ambient set (Linux 4.3): the capability must be permitted and inheritable.
[[nodiscard]] Status RaiseAmbient(cap_value_t cap);
[[nodiscard]] Status ClearAmbient();
[[nodiscard]] Result<bool> InAmbient(cap_value_t cap);

// BecomeUser (userns.h); with keep_caps, PR_SET_KEEPCAPS first keeps the permitted set across
// the switch from root (the effective set is cleared by the kernel).
[[nodiscard]] Status SwitchUser(uid_t uid, gid_t gid, bool keep_caps);

// File capabilities (security.capability xattr) from libcap text ("cap_net_bind_service=p").
[[nodiscard]] Status SetFileCapabilities(const std::string& path, const std::string& text);
[[nodiscard]] Result<std::string> FileCapabilities(const std::string& path);

// Runs `fn` in a child whose E, P and I sets are exactly `caps`; its exit status is returned.
[[nodiscard]] Result<ExitStatus> RunWithCapabilities(
    const CapList& caps, const std::function<int()>& fn, uint64_t clone_flags = 0,
    std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace ckc

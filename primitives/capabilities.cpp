#include "capabilities.h"

#include "userns.h"

#include <grp.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <fmt/format.h>
#include <memory>

namespace ckc {

namespace {

// libcap objects are freed with cap_free.
struct CapFree {
  void operator()(void* p) const { cap_free(p); }
};
using CapPtr = std::unique_ptr<std::remove_pointer_t<cap_t>, CapFree>;

cap_flag_t Flag(CapSet set) {
  switch (set) {
    case CapSet::kEffective:
      return CAP_EFFECTIVE;
    case CapSet::kPermitted:
      return CAP_PERMITTED;
    case CapSet::kInheritable:
      return CAP_INHERITABLE;
  }
  return CAP_EFFECTIVE;
}

std::string Names(const CapList& caps) {
  std::string out;
  for (auto c : caps) out += (out.empty() ? "" : ",") + CapabilityName(c);
  return out;
}

Status Change(const CapList& caps, const std::vector<CapSet>& sets, cap_flag_value_t value) {
  CapPtr cur(cap_get_proc());
  if (!cur) return ErrnoError("cap_get_proc");
  for (CapSet s : sets) {
    if (cap_set_flag(cur.get(), Flag(s), static_cast<int>(caps.size()), caps.data(), value) != 0) {
      return ErrnoError("cap_set_flag", Names(caps));
    }
  }
  if (cap_set_proc(cur.get()) != 0) return ErrnoError("cap_set_proc", Names(caps));
  return {};
}

}  // namespace

std::string CapabilityName(cap_value_t cap) {
  char* name = cap_to_name(cap);
  if (!name) return fmt::format("cap_{}", cap);
  std::string out = name;
  cap_free(name);
  return out;
}

std::string ProcessCapabilities() {
  CapPtr cur(cap_get_proc());
  if (!cur) return "?";
  char* text = cap_to_text(cur.get(), nullptr);
  if (!text) return "?";
  std::string out = text;
  cap_free(text);
  return out;
}

Result<bool> HasCapability(cap_value_t cap, CapSet set) {
  CapPtr cur(cap_get_proc());
  if (!cur) return ErrnoError("cap_get_proc");
  cap_flag_value_t v = CAP_CLEAR;
  if (cap_get_flag(cur.get(), cap, Flag(set), &v) != 0)
    return ErrnoError("cap_get_flag", CapabilityName(cap));
  return v == CAP_SET;
}

Status SetCapabilities(const CapList& caps) {
  CapPtr next(cap_init());
  if (!next) return ErrnoError("cap_init");
  for (cap_flag_t f : {CAP_EFFECTIVE, CAP_PERMITTED, CAP_INHERITABLE}) {
    if (!caps.empty() &&
        cap_set_flag(next.get(), f, static_cast<int>(caps.size()), caps.data(), CAP_SET) != 0) {
      return ErrnoError("cap_set_flag", Names(caps));
    }
  }
  if (cap_set_proc(next.get()) != 0) return ErrnoError("cap_set_proc", Names(caps));
  return {};
}

Status DropCapabilities(const CapList& caps, const std::vector<CapSet>& sets) {
  return Change(caps, sets, CAP_CLEAR);
}

Status RaiseCapabilities(const CapList& caps, const std::vector<CapSet>& sets) {
  return Change(caps, sets, CAP_SET);
}

Status DropBounding(cap_value_t cap) {
  if (cap_drop_bound(cap) != 0) return ErrnoError("cap_drop_bound", CapabilityName(cap));
  return {};
}

Result<bool> InBounding(cap_value_t cap) {
  int v = cap_get_bound(cap);
  if (v < 0) return ErrnoError("cap_get_bound", CapabilityName(cap));
  return v == 1;
}

Status RaiseAmbient(cap_value_t cap) {
  if (cap_set_ambient(cap, CAP_SET) != 0) return ErrnoError("cap_set_ambient", CapabilityName(cap));
  return {};
}

Status ClearAmbient() {
  if (cap_reset_ambient() != 0) return ErrnoError("cap_reset_ambient");
  return {};
}

Result<bool> InAmbient(cap_value_t cap) {
  int v = cap_get_ambient(cap);
  if (v < 0) return ErrnoError("cap_get_ambient", CapabilityName(cap));
  return v == 1;
}

Status SwitchUser(uid_t uid, gid_t gid, bool keep_caps) {
  if (keep_caps && ::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0)
    return ErrnoError("prctl", "PR_SET_KEEPCAPS");
  return BecomeUser(uid, gid);
}

Status SetFileCapabilities(const std::string& path, const std::string& text) {
  CapPtr caps(cap_from_text(text.c_str()));
  if (!caps) return ErrnoError("cap_from_text", text);
  if (cap_set_file(path.c_str(), caps.get()) != 0)
    return ErrnoError("cap_set_file", fmt::format("{} {}", path, text));
  return {};
}

Result<std::string> FileCapabilities(const std::string& path) {
  CapPtr caps(cap_get_file(path.c_str()));
  if (!caps) return ErrnoError("cap_get_file", path);
  char* text = cap_to_text(caps.get(), nullptr);
  if (!text) return ErrnoError("cap_to_text", path);
  std::string out = text;
  cap_free(text);
  return out;
}

Result<ExitStatus> RunWithCapabilities(const CapList& caps, const std::function<int()>& fn,
                                       uint64_t clone_flags, std::chrono::milliseconds timeout) {
  // 126: the child could not take the set; fn's own codes are passed through.
  CKC_TRY(child, Spawn({.flags = clone_flags}, [&] { return SetCapabilities(caps) ? fn() : 126; }));
  return child.Wait(timeout);
}

}  // namespace ckc

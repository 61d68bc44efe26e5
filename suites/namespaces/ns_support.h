// Test-side helpers shared by the namespace suites: key=value reports from children and
// reading them back, uname fields.
//
//   CKC_REQUIRE(RootOrUserns(), NamespaceType(NsType::kUts));      // ckc_test.h
//   ASSERT_OK_AND_ASSIGN(ChildResult r, RunInSandbox(Sandbox().UserNsUnlessRoot().Hostname("x"),
//                                               [](Channel& ch) { return Report(ch, "k=v", 0); }));
//   EXPECT_EQ(Value(r, "k"), "v") << r.Describe();
//
// Setup belongs in primitives/ (Sandbox, namespaces.h, userns.h); only glue lives here.
#pragma once

#include <sys/utsname.h>
#include <unistd.h>

#include <fmt/format.h>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "ckc_test.h"
#include "mounts.h"
#include "sandbox.h"

namespace ckc::test {

// Runs `fn` in `box` and collects its reports (a failed setup step is returned as the error).
inline Result<ChildResult> RunBoxed(const Sandbox& box, const std::function<int(Channel&)>& fn,
                                    std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  return RunInSandbox(box, fn, timeout);
}

// The value of the last "key=value" report, or "<none>" (so a failure message shows it missing).
inline std::string Value(const ChildResult& r, std::string_view key) {
  std::string prefix = std::string(key) + "=";
  for (auto it = r.reports.rbegin(); it != r.reports.rend(); ++it) {
    if (it->starts_with(prefix)) return it->substr(prefix.size());
  }
  return "<none>";
}

inline std::string YesNo(bool b) { return b ? "yes" : "no"; }

// Sends "key=value" and returns `code`.
inline int Put(Channel& ch, std::string_view key, std::string_view value, int code = 0) {
  (void)ch.Send(fmt::format("{}={}", key, value));
  return code;
}

// Sends "key=<result of a raw call>": "ok" when it returned >= 0, else the errno name.
inline void PutCall(Channel& ch, std::string_view key, long rc) {
  int saved = errno;
  (void)ch.Send(fmt::format("{}={}", key, rc >= 0 ? std::string("ok") : ErrnoName(saved)));
}

// For sandbox setup steps: keeps a mount for the life of the sandbox's mount namespace.
inline Status Keep(Result<Mount> m) {
  if (!m) return Propagate(m.error());
  m->Release();
  return {};
}

inline std::string Nodename() {
  struct utsname u {};
  ::uname(&u);
  return u.nodename;
}

inline std::string Domainname() {
  struct utsname u {};
  ::uname(&u);
  return u.domainname;
}

}  // namespace ckc::test

// Sandbox: composes namespaces, id maps, mounts, root file system and extra setup steps into a
// small container and runs a function (or a program) in it. Suites use it instead of repeating
// setup.
//
//   auto box = Sandbox()
//                  .Namespaces(CLONE_NEWUTS | CLONE_NEWNS | CLONE_NEWPID)
//                  .MapRootTo(getuid(), getgid())      // adds CLONE_NEWUSER
//                  .Hostname("tupperware")
//                  .MountProc()
//                  .Run([](Channel& ch) { ...; return 0; });   // Result<Sandboxed>
//   box->channel.Expect("ready");  box->child.Wait(5s);
//
// Run returns once the child has finished its setup: a setup step that failed in the child is
// returned as that step's Error (the child has exited), never as the function's result.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "channel.h"
#include "process.h"
#include "result.h"
#include "userns.h"

namespace ckc {

struct Sandboxed {
  Child child;
  Channel channel;  // the parent's end; the function got the child's end
};

class Sandbox {
 public:
  // CLONE_NEW* flags of the namespaces to create.
  Sandbox& Namespaces(uint64_t clone_flags);
  // New user namespace with these maps (written by the parent before setup continues).
  Sandbox& UserMaps(IdMap uids, IdMap gids, bool deny_setgroups = true);
  // New user namespace mapping 0 inside to `uid`/`gid` outside (one id each).
  Sandbox& MapRootTo(uid_t uid, gid_t gid);
  // When the caller is not root: a new user namespace mapping 0 to the caller's euid/egid, so
  // the sandbox holds CAP_SYS_ADMIN over the namespaces it creates. As root: nothing.
  Sandbox& UserNsUnlessRoot();
  Sandbox& Hostname(std::string name);
  Sandbox& Domainname(std::string name);
  // Fresh proc on /proc (implies CLONE_NEWNS; meaningful with CLONE_NEWPID).
  Sandbox& MountProc();
  // pivot_root into `dir` (bound onto itself first; implies CLONE_NEWNS).
  Sandbox& Root(std::string dir);
  // CLONE_INTO_CGROUP (cgroup v2 directory fd).
  Sandbox& IntoCgroup(int cgroup_fd);
  // Extra setup run in the child, in order, after the built-in steps (capabilities, seccomp...).
  Sandbox& Then(std::string what, std::function<Status()> step);

  [[nodiscard]] Result<Sandboxed> Run(std::function<int(Channel&)> fn) const;
  // Runs `argv` (execv) in the sandbox; exit code 127 if exec fails.
  [[nodiscard]] Result<Sandboxed> Exec(std::vector<std::string> argv) const;

 private:
  [[nodiscard]] Status SetupInChild(Channel& ch) const;
  [[nodiscard]] Status BecomeMappedRoot() const;

  uint64_t flags_ = 0;
  std::optional<IdMap> uid_map_;
  std::optional<IdMap> gid_map_;
  bool deny_setgroups_ = true;
  std::optional<std::string> hostname_;
  std::optional<std::string> domainname_;
  bool mount_proc_ = false;
  std::optional<std::string> root_;
  int cgroup_fd_ = -1;
  std::vector<std::pair<std::string, std::function<Status()>>> steps_;
};

}  // namespace ckc

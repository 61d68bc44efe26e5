#include "sandbox.h"

#include <sched.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <fmt/format.h>

#include "mounts.h"

namespace ckc {

namespace {
constexpr std::string_view kReady = "sandbox:ready";
constexpr std::string_view kMapsWritten = "sandbox:maps-written";
constexpr std::string_view kSetupFailed = "sandbox:setup-failed:";
constexpr int kSetupFailedExit = 125;
}  // namespace

Sandbox& Sandbox::Namespaces(uint64_t clone_flags) {
  flags_ |= clone_flags;
  return *this;
}

Sandbox& Sandbox::UserMaps(IdMap uids, IdMap gids, bool deny_setgroups) {
  flags_ |= CLONE_NEWUSER;
  uid_map_ = std::move(uids);
  gid_map_ = std::move(gids);
  deny_setgroups_ = deny_setgroups;
  return *this;
}

Sandbox& Sandbox::MapRootTo(uid_t uid, gid_t gid) {
  return UserMaps({{0, static_cast<uint32_t>(uid), 1}}, {{0, static_cast<uint32_t>(gid), 1}});
}

Sandbox& Sandbox::UserNsUnlessRoot() {
  if (::geteuid() == 0) return *this;
  return MapRootTo(::geteuid(), ::getegid());
}

Sandbox& Sandbox::Hostname(std::string name) {
  flags_ |= CLONE_NEWUTS;
  hostname_ = std::move(name);
  return *this;
}

Sandbox& Sandbox::Domainname(std::string name) {
  flags_ |= CLONE_NEWUTS;
  domainname_ = std::move(name);
  return *this;
}

Sandbox& Sandbox::MountProc() {
  flags_ |= CLONE_NEWNS;
  mount_proc_ = true;
  return *this;
}

Sandbox& Sandbox::Root(std::string dir) {
  flags_ |= CLONE_NEWNS;
  root_ = std::move(dir);
  return *this;
}

Sandbox& Sandbox::IntoCgroup(int cgroup_fd) {
  cgroup_fd_ = cgroup_fd;
  return *this;
}

Sandbox& Sandbox::Then(std::string what, std::function<Status()> step) {
  steps_.emplace_back(std::move(what), std::move(step));
  return *this;
}

// Writing the maps does not change the child's credentials: it still holds the parent's kernel
// ids, which show as the overflow id unless the map happens to cover them. Like a runtime's init,
// take on the namespace's uid/gid 0 (when mapped) so files it creates belong to the mapped ids.
Status Sandbox::BecomeMappedRoot() const {
  auto maps_zero = [](const IdMap& m) {
    for (const auto& r : m) {
      if (r.inside == 0) return true;
    }
    return false;
  };
  if (maps_zero(*gid_map_) && ::setresgid(0, 0, 0) != 0)
    return ErrnoError("setresgid", "0 in the user namespace");
  if (maps_zero(*uid_map_) && ::setresuid(0, 0, 0) != 0)
    return ErrnoError("setresuid", "0 in the user namespace");
  // A credential change clears the dumpable flag (root-owned /proc/self); undo that.
  if (::prctl(PR_SET_DUMPABLE, 1) != 0) return ErrnoError("prctl", "PR_SET_DUMPABLE");
  return {};
}

Status Sandbox::SetupInChild(Channel& ch) const {
  if (uid_map_) {
    CKC_CHECK(ch.Expect(kMapsWritten));
    CKC_CHECK(BecomeMappedRoot());
  }
  if (flags_ & CLONE_NEWNS) CKC_CHECK(MakeRootPrivate());
  if (hostname_ && ::sethostname(hostname_->data(), hostname_->size()) != 0) {
    return ErrnoError("sethostname", *hostname_);
  }
  if (domainname_ && ::setdomainname(domainname_->data(), domainname_->size()) != 0) {
    return ErrnoError("setdomainname", *domainname_);
  }
  if (root_) {
    CKC_TRY(self_bind, BindMount(*root_, *root_, false, true));
    self_bind.Release();
    CKC_CHECK(PivotRoot(*root_));
  }
  if (mount_proc_) {
    CKC_TRY(proc, ::ckc::MountProc("/proc"));
    proc.Release();
  }
  for (const auto& [what, step] : steps_) {
    if (auto st = step(); !st) {
      Error e = st.error();
      e.detail = e.detail.empty() ? fmt::format("setup step `{}`", what)
                                  : fmt::format("{} (setup step `{}`)", e.detail, what);
      return std::unexpected(e);
    }
  }
  return {};
}

Result<Sandboxed> Sandbox::Run(std::function<int(Channel&)> fn) const {
  CKC_TRY(ch, Channel::Create());
  SpawnOptions opts{.flags = flags_, .cgroup_fd = cgroup_fd_};
  CKC_TRY(child, Spawn(opts, [&]() -> int {
            ch.BecomeChild();
            if (auto st = SetupInChild(ch); !st) {
              (void)ch.Send(std::string(kSetupFailed) + st.error().Message());
              return kSetupFailedExit;
            }
            if (!ch.Send(kReady)) return kSetupFailedExit;
            return fn(ch);
          }));
  ch.BecomeParent();
  if (uid_map_) {
    if (auto st = WriteIdMaps(child.pid(), *uid_map_, *gid_map_, deny_setgroups_); !st)
      return Propagate(st.error());
    CKC_CHECK(ch.Send(kMapsWritten));
  }
  CKC_TRY(msg, ch.Recv());
  if (msg.starts_with(kSetupFailed)) {
    (void)child.Wait(std::chrono::seconds(5));
    return Failure("sandbox setup", fmt::format("pid {}", child.pid()),
                   msg.substr(kSetupFailed.size()));
  }
  if (msg != kReady)
    return Failure("sandbox setup", "channel", fmt::format("unexpected `{}`", msg));
  return Sandboxed{std::move(child), std::move(ch)};
}

Result<Sandboxed> Sandbox::Exec(std::vector<std::string> argv) const {
  return Run([argv](Channel&) -> int {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    return 127;
  });
}

}  // namespace ckc

#include "seccomp_notify.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fmt/format.h>

#include "process.h"

namespace ckc {

namespace {

// No call is pending on a probe's listener, so every id is unknown there: asking about one gets
// past the flag checks (EINVAL) to the "no such notification" check (ENOENT).
constexpr uint64_t kNoSuchId = ~uint64_t{0};

// Exit codes of the probe child for its own setup steps (errno values stay below 200).
constexpr int kProbeFilterBroke = 200;
constexpr int kProbeNotifyFdBroke = 201;

std::unexpected<Error> LibseccompError(int rc, std::string_view operation,
                                       std::string_view argument = {}) {
  return std::unexpected(Error{-rc, std::string(operation), std::string(argument), {}});
}

int SendRaw(int notify_fd, const seccomp_notif_resp& resp) {
  seccomp_notif_resp copy = resp;
  return ::ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_SEND, &copy);
}

// The ioctl a probe makes on its own listener for notification kNoSuchId; errno, or 0.
int ProbeIoctl(int notify_fd, NotifyFeature feature) {
  int rc = 0;
  if (feature == NotifyFeature::kContinue) {
    rc =
        SendRaw(notify_fd,
                {.id = kNoSuchId, .val = 0, .error = 0, .flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE});
  } else {
    seccomp_notif_addfd addfd{};
    addfd.id = kNoSuchId;
    addfd.srcfd = static_cast<uint32_t>(notify_fd);
    addfd.flags = feature == NotifyFeature::kAddFdSend ? SECCOMP_ADDFD_FLAG_SEND : 0;
    rc = ::ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_ADDFD, &addfd);
  }
  return rc == 0 ? 0 : errno;
}

}  // namespace

Result<Notification> ReceiveNotification(int notify_fd, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return std::unexpected(
          Error{ETIMEDOUT, "seccomp notification", std::to_string(notify_fd), {}});
    }
    struct pollfd p = {notify_fd, POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("poll", "seccomp notify fd");
    if (n == 0) continue;
    if (!(p.revents & POLLIN)) {
      return Failure("seccomp notification", std::to_string(notify_fd), "filter gone (POLLHUP)");
    }
    break;
  }
  seccomp_notif* req = nullptr;
  if (int rc = seccomp_notify_alloc(&req, nullptr); rc != 0) {
    return LibseccompError(rc, "seccomp_notify_alloc");
  }
  int rc = seccomp_notify_receive(notify_fd, req);
  Notification out{.id = req->id, .pid = static_cast<pid_t>(req->pid), .data = req->data};
  seccomp_notify_free(req, nullptr);
  if (rc != 0) return LibseccompError(rc, "seccomp_notify_receive", std::to_string(notify_fd));
  return out;
}

Status Respond(int notify_fd, uint64_t id, const NotifyReply& reply) {
  seccomp_notif_resp resp{
      .id = id, .val = reply.val, .error = reply.error ? -reply.error : 0, .flags = 0};
  if (SendRaw(notify_fd, resp) != 0) {
    return ErrnoError("ioctl", fmt::format("SECCOMP_IOCTL_NOTIF_SEND id {:#x}", id));
  }
  return {};
}

Status RespondContinue(int notify_fd, uint64_t id) {
  seccomp_notif_resp resp{
      .id = id, .val = 0, .error = 0, .flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE};
  if (SendRaw(notify_fd, resp) != 0) {
    return ErrnoError("ioctl", fmt::format("SECCOMP_IOCTL_NOTIF_SEND CONTINUE id {:#x}", id));
  }
  return {};
}

Result<int> AddFd(int notify_fd, uint64_t id, int fd, const AddFdOptions& options) {
  seccomp_notif_addfd addfd{};
  addfd.id = id;
  addfd.srcfd = static_cast<uint32_t>(fd);
  if (options.send) addfd.flags |= SECCOMP_ADDFD_FLAG_SEND;
  if (options.target_fd) {
    addfd.flags |= SECCOMP_ADDFD_FLAG_SETFD;
    addfd.newfd = static_cast<uint32_t>(*options.target_fd);
  }
  if (options.cloexec) addfd.newfd_flags = O_CLOEXEC;
  int remote = ::ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_ADDFD, &addfd);
  if (remote < 0) {
    return ErrnoError(
        "ioctl", fmt::format("SECCOMP_IOCTL_NOTIF_ADDFD id {:#x} flags {:#x}", id, addfd.flags));
  }
  return remote;
}

std::string NotifyFeatureName(NotifyFeature feature) {
  switch (feature) {
    case NotifyFeature::kContinue:
      return "SECCOMP_USER_NOTIF_FLAG_CONTINUE";
    case NotifyFeature::kAddFd:
      return "SECCOMP_IOCTL_NOTIF_ADDFD";
    case NotifyFeature::kAddFdSend:
      return "SECCOMP_ADDFD_FLAG_SEND";
  }
  return "?";
}

Result<bool> ProbeNotifyFeature(NotifyFeature feature) {
  // The filter must be loaded to get a listener, and loading is irreversible: a child does it.
  // It notifies on a call it never makes, so nothing waits on the listener.
  CKC_TRY(child, Spawn({}, [feature] {
            auto f = SeccompFilter::Create(SCMP_ACT_ALLOW);
            if (!f || !f->Add(SCMP_ACT_NOTIFY, SCMP_SYS(swapoff)) || !f->Load()) {
              return kProbeFilterBroke;
            }
            auto fd = f->NotifyFd();
            if (!fd) return kProbeNotifyFdBroke;
            return ProbeIoctl(fd->get(), feature);
          }));
  CKC_TRY(status, child.Wait(std::chrono::seconds(10)));
  std::string what = "probe " + NotifyFeatureName(feature);
  if (status.Exited(ENOENT)) return true;
  if (status.Exited(EINVAL)) return false;
  if (status.Exited(kProbeFilterBroke)) return Failure(what, "child", "loading the filter failed");
  if (status.Exited(kProbeNotifyFdBroke)) return Failure(what, "child", "no notification fd");
  return Failure(what, "child", "unexpected outcome: " + status.Describe());
}

Status LoadFilterOnAllThreads(uint32_t default_action, const std::vector<SeccompRule>& rules) {
  scmp_filter_ctx ctx = seccomp_init(default_action);
  if (!ctx) return Failure("seccomp_init", fmt::format("{:#x}", default_action), "refused");
  // Released on every path: the kernel keeps its own copy of a loaded filter.
  struct Release {
    scmp_filter_ctx ctx;
    ~Release() { seccomp_release(ctx); }
  } release{ctx};
  if (int rc = seccomp_attr_set(ctx, SCMP_FLTATR_API_SYSRAWRC, 1); rc != 0) {
    return LibseccompError(rc, "seccomp_attr_set", "SCMP_FLTATR_API_SYSRAWRC");
  }
  if (int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1); rc != 0) {
    return LibseccompError(rc, "seccomp_attr_set", "SCMP_FLTATR_CTL_TSYNC");
  }
  for (const SeccompRule& r : rules) {
    if (int rc = seccomp_rule_add(ctx, r.action, r.syscall_nr, 0); rc != 0) {
      return LibseccompError(rc, "seccomp_rule_add", std::to_string(r.syscall_nr));
    }
  }
  if (int rc = seccomp_load(ctx); rc != 0) return LibseccompError(rc, "seccomp_load", "TSYNC");
  return {};
}

Result<bool> ActionAvailable(uint32_t action) {
  uint32_t a = action;
  if (::syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &a) == 0) return true;
  if (errno == EOPNOTSUPP) return false;
  return ErrnoError("seccomp", fmt::format("SECCOMP_GET_ACTION_AVAIL {:#x}", action));
}

const std::vector<NamedAction>& KnownSeccompActions() {
  // kernel/seccomp.c seccomp_actions_avail / seccomp_log_names spell them so.
  static const std::vector<NamedAction> actions = {
      {"kill_process", SECCOMP_RET_KILL_PROCESS},
      {"kill_thread", SECCOMP_RET_KILL_THREAD},
      {"trap", SECCOMP_RET_TRAP},
      {"errno", SECCOMP_RET_ERRNO},
      {"user_notif", SECCOMP_RET_USER_NOTIF},
      {"trace", SECCOMP_RET_TRACE},
      {"log", SECCOMP_RET_LOG},
      {"allow", SECCOMP_RET_ALLOW},
  };
  return actions;
}

}  // namespace ckc

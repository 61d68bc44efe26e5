#include "seccomp_filter.h"

#include <linux/seccomp.h>
#include <poll.h>
#include <sys/prctl.h>

#include <fmt/format.h>
#include <utility>

namespace ckc {

namespace {
// libseccomp returns -errno; turn it into an Error.
std::unexpected<Error> SeccompError(int rc, std::string_view operation,
                                    std::string_view argument = {}) {
  return std::unexpected(Error{-rc, std::string(operation), std::string(argument), {}});
}
}  // namespace

Result<SeccompFilter> SeccompFilter::Create(uint32_t default_action) {
  scmp_filter_ctx ctx = seccomp_init(default_action);
  if (!ctx)
    return Failure("seccomp_init", fmt::format("{:#x}", default_action), "libseccomp refused");
  SeccompFilter f(ctx);
  // Report the kernel's own errno (EACCES without no_new_privs) instead of -ECANCELED.
  if (int rc = seccomp_attr_set(ctx, SCMP_FLTATR_API_SYSRAWRC, 1); rc != 0) {
    return SeccompError(rc, "seccomp_attr_set", "SCMP_FLTATR_API_SYSRAWRC");
  }
  return f;
}

SeccompFilter::SeccompFilter(SeccompFilter&& other) noexcept
    : ctx_(std::exchange(other.ctx_, nullptr)) {}

SeccompFilter& SeccompFilter::operator=(SeccompFilter&& other) noexcept {
  if (this != &other) {
    if (ctx_) seccomp_release(ctx_);
    ctx_ = std::exchange(other.ctx_, nullptr);
  }
  return *this;
}

SeccompFilter::~SeccompFilter() {
  if (ctx_) seccomp_release(ctx_);
}

Status SeccompFilter::Add(uint32_t action, int syscall_nr, const std::vector<scmp_arg_cmp>& args) {
  int rc = seccomp_rule_add_array(ctx_, action, syscall_nr, static_cast<unsigned>(args.size()),
                                  args.empty() ? nullptr : args.data());
  if (rc != 0) {
    char* name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, syscall_nr);
    std::string n = name ? name : std::to_string(syscall_nr);
    free(name);
    return SeccompError(rc, "seccomp_rule_add", n);
  }
  return {};
}

Status SeccompFilter::SetNoNewPrivs(bool set) {
  if (int rc = seccomp_attr_set(ctx_, SCMP_FLTATR_CTL_NNP, set ? 1 : 0); rc != 0) {
    return SeccompError(rc, "seccomp_attr_set", "SCMP_FLTATR_CTL_NNP");
  }
  return {};
}

Status SeccompFilter::Load() {
  if (int rc = seccomp_load(ctx_); rc != 0) return SeccompError(rc, "seccomp_load");
  return {};
}

Result<UniqueFd> SeccompFilter::NotifyFd() {
  int fd = seccomp_notify_fd(ctx_);
  if (fd < 0) return SeccompError(fd, "seccomp_notify_fd");
  return UniqueFd(fd);
}

Status EnterStrictMode() {
  if (::prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT, 0, 0, 0) != 0) {
    return ErrnoError("prctl", "PR_SET_SECCOMP, SECCOMP_MODE_STRICT");
  }
  return {};
}

int SeccompMode() { return ::prctl(PR_GET_SECCOMP, 0, 0, 0, 0); }

Status SetNoNewPrivs() {
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    return ErrnoError("prctl", "PR_SET_NO_NEW_PRIVS");
  return {};
}

bool NoNewPrivs() { return ::prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1; }

unsigned int SeccompApiLevel() { return seccomp_api_get(); }

bool UserNotificationSupported() { return SeccompApiLevel() >= 5; }

Result<int> SuperviseNotifications(int fd, const NotifyHandler& handler, int count,
                                   std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int answered = 0;
  while (answered < count) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return std::unexpected(Error{ETIMEDOUT, "seccomp supervisor", std::to_string(fd), {}});
    struct pollfd p = {fd, POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("poll", "seccomp notify fd");
    if (n == 0) continue;
    if (!(p.revents & POLLIN))
      return Failure("seccomp supervisor", std::to_string(fd), "filter gone (POLLHUP)");
    struct seccomp_notif* req = nullptr;
    struct seccomp_notif_resp* resp = nullptr;
    if (int rc = seccomp_notify_alloc(&req, &resp); rc != 0)
      return SeccompError(rc, "seccomp_notify_alloc");
    int rc = seccomp_notify_receive(fd, req);
    if (rc == 0) {
      NotifyReply reply = handler(*req);
      resp->id = req->id;
      resp->val = reply.val;
      resp->error = reply.error ? -reply.error : 0;
      resp->flags = 0;
      rc = seccomp_notify_respond(fd, resp);
    }
    seccomp_notify_free(req, resp);
    // ENOENT: the caller went away (killed) between receive and respond; keep serving.
    if (rc != 0 && rc != -ENOENT) return SeccompError(rc, "seccomp_notify_receive/respond");
    if (rc == 0) ++answered;
  }
  return answered;
}

}  // namespace ckc

#include "channel.h"

#include <poll.h>
#include <sys/socket.h>

#include <fmt/format.h>
#include <cstring>

namespace ckc {

Result<Channel> Channel::Create() {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) {
    return ErrnoError("socketpair", "channel");
  }
  Channel ch;
  ch.parent_end_.Reset(fds[0]);
  ch.child_end_.Reset(fds[1]);
  return ch;
}

Status Channel::Send(std::string_view message) {
  if (::send(Mine(), message.data(), message.size(), MSG_NOSIGNAL) < 0) {
    return ErrnoError("send", fmt::format("channel message `{}`", message));
  }
  return {};
}

namespace {
Status WaitReadable(int fd, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(std::max<long>(left.count(), 0)));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("poll", "channel");
    if (n == 0) {
      errno = ETIMEDOUT;
      return ErrnoError("recv", fmt::format("channel, waited {} ms", timeout.count()));
    }
    return {};
  }
}
}  // namespace

Result<std::string> Channel::Recv(std::chrono::milliseconds timeout) {
  CKC_CHECK(WaitReadable(Mine(), timeout));
  char buf[65536];
  ssize_t n = ::recv(Mine(), buf, sizeof buf, 0);
  if (n < 0) return ErrnoError("recv", "channel");
  if (n == 0) return Failure("recv", "channel", "peer closed its end");
  return std::string(buf, static_cast<size_t>(n));
}

Status Channel::Expect(std::string_view expected, std::chrono::milliseconds timeout) {
  CKC_TRY(got, Recv(timeout));
  if (got != expected) {
    return Failure("recv", "channel", fmt::format("expected `{}`, got `{}`", expected, got));
  }
  return {};
}

namespace {
// A message with room for one file descriptor (SCM_RIGHTS); `msg` points into the object, so it
// neither copies nor moves.
struct FdMessage {
  FdMessage(void* data, size_t size) : iov{data, size} {
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
  }
  FdMessage(const FdMessage&) = delete;
  FdMessage& operator=(const FdMessage&) = delete;

  iovec iov;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
};
}  // namespace

Status Channel::SendFd(int fd, std::string_view tag) {
  FdMessage m(const_cast<char*>(tag.data()), tag.size());
  cmsghdr* c = CMSG_FIRSTHDR(&m.msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  if (::sendmsg(Mine(), &m.msg, MSG_NOSIGNAL) < 0) return ErrnoError("sendmsg", "channel fd");
  return {};
}

Result<UniqueFd> Channel::RecvFd(std::chrono::milliseconds timeout) {
  CKC_CHECK(WaitReadable(Mine(), timeout));
  char tag[256];
  FdMessage m(tag, sizeof tag);
  ssize_t n = ::recvmsg(Mine(), &m.msg, MSG_CMSG_CLOEXEC);
  if (n < 0) return ErrnoError("recvmsg", "channel fd");
  if (n == 0) return Failure("recvmsg", "channel fd", "peer closed its end");
  cmsghdr* c = CMSG_FIRSTHDR(&m.msg);
  if (c == nullptr || c->cmsg_type != SCM_RIGHTS) {
    return Failure("recvmsg", "channel fd", "message carried no file descriptor");
  }
  int fd;
  std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
  return UniqueFd(fd);
}

}  // namespace ckc

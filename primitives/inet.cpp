#include "inet.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cstddef>
#include <cstring>
#include <utility>

namespace ckc {

namespace {

using Clock = std::chrono::steady_clock;

Result<sockaddr_in> Ipv4(std::string_view address, uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  std::string a(address);
  if (::inet_pton(AF_INET, a.c_str(), &sa.sin_addr) != 1) {
    return Failure("inet_pton", a, "not an IPv4 address");
  }
  return sa;
}

std::string Where(std::string_view address, uint16_t port) {
  return fmt::format("{}:{}", address, port);
}

// Waits for `events` on `fd` until `deadline`; ETIMEDOUT when it passes.
Status WaitFor(int fd, short events, Clock::time_point deadline, std::string_view what) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      errno = ETIMEDOUT;
      return ErrnoError("poll", what);
    }
    pollfd p{fd, events, 0};
    int rc = ::poll(&p, 1, static_cast<int>(left.count()));
    if (rc > 0) return {};
    if (rc < 0 && errno != EINTR) return ErrnoError("poll", what);
  }
}

uint16_t Checksum(const void* data, size_t len) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < len; i += 2) sum += (p[i] << 8) | p[i + 1];
  if (len & 1) sum += p[len - 1] << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return htons(static_cast<uint16_t>(~sum));
}

}  // namespace

Result<UniqueFd> TcpListen(std::string_view address, uint16_t port) {
  CKC_TRY(sa, Ipv4(address, port));
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return ErrnoError("socket", "AF_INET/SOCK_STREAM");
  int one = 1;
  (void)::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    return ErrnoError("bind", Where(address, port));
  }
  if (::listen(fd.get(), 8) != 0) return ErrnoError("listen", Where(address, port));
  return fd;
}

Result<uint16_t> LocalPort(int fd) {
  sockaddr_in sa{};
  socklen_t len = sizeof(sa);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0)
    return ErrnoError("getsockname");
  return ntohs(sa.sin_port);
}

Result<UniqueFd> TcpConnect(std::string_view address, uint16_t port,
                            std::chrono::milliseconds timeout) {
  CKC_TRY(sa, Ipv4(address, port));
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return ErrnoError("socket", "AF_INET/SOCK_STREAM");
  std::string where = Where(address, port);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    if (errno != EINPROGRESS) return ErrnoError("connect", where);
    CKC_CHECK(WaitFor(fd.get(), POLLOUT, Clock::now() + timeout, where));
    int err = 0;
    socklen_t len = sizeof(err);
    if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0)
      return ErrnoError("getsockopt", where);
    if (err != 0) {
      errno = err;
      return ErrnoError("connect", where);
    }
  }
  return fd;
}

Result<UniqueFd> UdpConnect(std::string_view address, uint16_t port) {
  CKC_TRY(sa, Ipv4(address, port));
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) return ErrnoError("socket", "AF_INET/SOCK_DGRAM");
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    return ErrnoError("connect", Where(address, port));
  }
  return fd;
}

Result<UniqueFd> Accept(int listener, std::chrono::milliseconds timeout) {
  CKC_CHECK(WaitFor(listener, POLLIN, Clock::now() + timeout, "accept"));
  int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) return ErrnoError("accept4");
  return UniqueFd(fd);
}

Status EchoOnce(int listener, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  CKC_TRY(conn, Accept(listener, timeout));
  CKC_CHECK(WaitFor(conn.get(), POLLIN, deadline, "echo recv"));
  char buf[256];
  ssize_t n = ::recv(conn.get(), buf, sizeof(buf), 0);
  if (n < 0) return ErrnoError("recv", "echo");
  if (::send(conn.get(), buf, static_cast<size_t>(n), MSG_NOSIGNAL) != n)
    return ErrnoError("send", "echo");
  return {};
}

Status Exchange(int from, int to, std::string_view message, std::chrono::milliseconds timeout) {
  if (::send(from, message.data(), message.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(message.size())) {
    return ErrnoError("send", message);
  }
  auto deadline = Clock::now() + timeout;
  std::string got;
  while (got.size() < message.size()) {
    CKC_CHECK(WaitFor(to, POLLIN, deadline, "recv"));
    char buf[256];
    ssize_t n = ::recv(to, buf, std::min(sizeof(buf), message.size() - got.size()), MSG_DONTWAIT);
    if (n == 0) return Failure("recv", message, fmt::format("connection closed after `{}`", got));
    if (n < 0 && errno != EAGAIN) return ErrnoError("recv", message);
    if (n > 0) got.append(buf, static_cast<size_t>(n));
  }
  if (got != message) return Failure("recv", message, fmt::format("received `{}`", got));
  return {};
}

namespace {
// sockaddr_un for an abstract name: a leading NUL, no terminator; the length is significant.
Result<std::pair<sockaddr_un, socklen_t>> AbstractAddr(std::string_view name) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (name.size() + 1 > sizeof(sa.sun_path)) return Failure("sockaddr_un", name, "name too long");
  std::memcpy(sa.sun_path + 1, name.data(), name.size());
  return std::pair{sa, static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size())};
}
}  // namespace

Result<UniqueFd> UnixListenAbstract(std::string_view name) {
  CKC_TRY(addr, AbstractAddr(name));
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return ErrnoError("socket", "AF_UNIX/SOCK_STREAM");
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr.first), addr.second) != 0) {
    return ErrnoError("bind", fmt::format("@{}", name));
  }
  if (::listen(fd.get(), 8) != 0) return ErrnoError("listen", fmt::format("@{}", name));
  return fd;
}

Result<UniqueFd> UnixConnectAbstract(std::string_view name) {
  CKC_TRY(addr, AbstractAddr(name));
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return ErrnoError("socket", "AF_UNIX/SOCK_STREAM");
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr.first), addr.second) != 0) {
    return ErrnoError("connect", fmt::format("@{}", name));
  }
  return fd;
}

Status Ping(std::string_view address, std::chrono::milliseconds timeout) {
  CKC_TRY(dst, Ipv4(address, 0));
  UniqueFd fd(::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP));
  if (!fd) return ErrnoError("socket", "AF_INET/SOCK_RAW/IPPROTO_ICMP");
  const uint16_t id = static_cast<uint16_t>(::getpid());
  icmphdr req{};
  req.type = ICMP_ECHO;
  req.un.echo.id = htons(id);
  req.un.echo.sequence = htons(1);
  req.checksum = Checksum(&req, sizeof(req));
  if (::sendto(fd.get(), &req, sizeof(req), 0, reinterpret_cast<sockaddr*>(&dst), sizeof(dst)) <
      0) {
    return ErrnoError("sendto", fmt::format("icmp echo {}", address));
  }
  // A raw ICMP socket sees every ICMP packet of the namespace: skip all but our reply.
  auto deadline = Clock::now() + timeout;
  for (;;) {
    CKC_CHECK(WaitFor(fd.get(), POLLIN, deadline, fmt::format("icmp echo reply from {}", address)));
    uint8_t buf[1500];
    sockaddr_in from{};
    socklen_t len = sizeof(from);
    ssize_t n = ::recvfrom(fd.get(), buf, sizeof(buf), MSG_DONTWAIT,
                           reinterpret_cast<sockaddr*>(&from), &len);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      return ErrnoError("recvfrom", fmt::format("icmp {}", address));
    }
    size_t ihl = (buf[0] & 0x0f) * 4U;
    if (static_cast<size_t>(n) < ihl + sizeof(icmphdr)) continue;
    icmphdr reply{};
    std::memcpy(&reply, buf + ihl, sizeof(reply));
    if (from.sin_addr.s_addr == dst.sin_addr.s_addr && reply.type == ICMP_ECHOREPLY &&
        ntohs(reply.un.echo.id) == id) {
      return {};
    }
  }
}

}  // namespace ckc

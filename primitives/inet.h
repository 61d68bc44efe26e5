// Small socket helpers for observing reachability: TCP listen/connect/accept with deadlines, a
// message exchange over a connection, abstract unix sockets, and one ICMP echo round trip.
//
//   CKC_TRY(listener, TcpListen("127.0.0.1"));            // port chosen by the kernel
//   CKC_TRY(port, LocalPort(listener.get()));
//   CKC_TRY(client, TcpConnect("127.0.0.1", port, 2s));   // err = connect's errno on failure
//   CKC_TRY(server, Accept(listener.get(), 2s));
//   CKC_CHECK(Exchange(client.get(), server.get(), "ping", 2s));
//   CKC_CHECK(Exchange(client.get(), client.get(), "ping", 2s));   // against an EchoOnce peer
//   CKC_CHECK(Ping("10.200.0.2", 2s));                     // raw ICMP: CAP_NET_RAW in the netns
//
// A socket belongs to the net namespace of the thread that created it (Netns::Run), for its
// whole life; connect(), bind() and route lookups happen there.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "fd.h"
#include "result.h"

namespace ckc {

// A TCP socket listening on `address`:`port` (port 0: any free port).
[[nodiscard]] Result<UniqueFd> TcpListen(std::string_view address, uint16_t port = 0);
// The port a socket is bound to.
[[nodiscard]] Result<uint16_t> LocalPort(int fd);
// A connected TCP socket; on failure Error::err is what connect() reported (ENETUNREACH,
// ECONNREFUSED...) or ETIMEDOUT after `timeout`.
[[nodiscard]] Result<UniqueFd> TcpConnect(std::string_view address, uint16_t port,
                                          std::chrono::milliseconds timeout);
// A UDP socket connect()ed to `address`:`port`: a route lookup and no packet.
[[nodiscard]] Result<UniqueFd> UdpConnect(std::string_view address, uint16_t port);
// The next connection queued on `listener`, ETIMEDOUT after `timeout`.
[[nodiscard]] Result<UniqueFd> Accept(int listener, std::chrono::milliseconds timeout);
// Accepts one connection on `listener`, reads what arrives first and sends it back.
[[nodiscard]] Status EchoOnce(int listener, std::chrono::milliseconds timeout);
// Sends `message` on `from` and checks that exactly it arrives on `to`.
[[nodiscard]] Status Exchange(int from, int to, std::string_view message,
                              std::chrono::milliseconds timeout);
// A unix stream socket listening on the abstract name `name` (no file; abstract names live in
// the net namespace the socket was made in, like ports).
[[nodiscard]] Result<UniqueFd> UnixListenAbstract(std::string_view name);
// connect() to an abstract unix name; Error::err is connect's errno (ECONNREFUSED: no listener).
[[nodiscard]] Result<UniqueFd> UnixConnectAbstract(std::string_view name);
// One ICMP echo request to `address` over a raw socket made in the calling thread's namespace;
// succeeds when the matching echo reply arrives within `timeout` (ETIMEDOUT otherwise).
[[nodiscard]] Status Ping(std::string_view address, std::chrono::milliseconds timeout);

}  // namespace ckc

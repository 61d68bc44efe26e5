// Channel: a socketpair over which a parent and its child hand-shake ("ready", "go") and pass
// small messages and file descriptors, so events are ordered without sleeps.
//
//   CKC_TRY(ch, Channel::Create());
//   auto child = Spawn({}, [&] { ch.BecomeChild(); ch.Send("ready"); return ch.Expect("go") ? 0 :
//   1; }); ch.BecomeParent(); ch.Expect("ready", 5s);  ...  ch.Send("go");
//
// Each side closes the other's end (BecomeParent/BecomeChild), so a peer that dies is seen as
// end-of-file instead of a hang.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "fd.h"
#include "result.h"

namespace ckc {

class Channel {
 public:
  [[nodiscard]] static Result<Channel> Create();

  void BecomeParent() { child_end_.Reset(); }
  void BecomeChild() { parent_end_.Reset(); }

  // Sends one message (a datagram; at most 64 KiB).
  [[nodiscard]] Status Send(std::string_view message);
  // Receives one message; ETIMEDOUT after `timeout`, a failure with "peer closed" at EOF.
  [[nodiscard]] Result<std::string> Recv(
      std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // Receives one message and checks that it is `expected`.
  [[nodiscard]] Status Expect(std::string_view expected,
                              std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // Passes a file descriptor (SCM_RIGHTS) with a short tag.
  [[nodiscard]] Status SendFd(int fd, std::string_view tag = "fd");
  [[nodiscard]] Result<UniqueFd> RecvFd(
      std::chrono::milliseconds timeout = std::chrono::seconds(30));

 private:
  [[nodiscard]] int Mine() const {
    return parent_end_.valid() ? parent_end_.get() : child_end_.get();
  }
  UniqueFd parent_end_;
  UniqueFd child_end_;
};

}  // namespace ckc

// UniqueFd: an owning file descriptor, closed in its destructor.
//
//   UniqueFd fd(open(path, O_RDONLY | O_CLOEXEC));
//   int raw = fd.Release();   // the caller owns it now
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <string>
#include <string_view>
#include <utility>

#include "result.h"

namespace ckc {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.Release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) Reset(other.Release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { Reset(); }

  [[nodiscard]] int get() const { return fd_; }
  [[nodiscard]] bool valid() const { return fd_ >= 0; }
  explicit operator bool() const { return valid(); }
  // Gives up ownership without closing.
  int Release() { return std::exchange(fd_, -1); }
  void Reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// open(2) with O_CLOEXEC added.
[[nodiscard]] Result<UniqueFd> OpenFile(std::string_view path, int flags, mode_t mode = 0);

// Whole-file helpers for /proc, /sys and cgroup files. WriteFile writes `data` in one write(2),
// as kernel interface files expect.
[[nodiscard]] Result<std::string> ReadFile(std::string_view path);
[[nodiscard]] Status WriteFile(std::string_view path, std::string_view data);
// Writes `data` to a new file atomically: a temporary beside `path`, fsync, rename.
[[nodiscard]] Status WriteFileAtomic(std::string_view path, std::string_view data,
                                     mode_t mode = 0644);

}  // namespace ckc

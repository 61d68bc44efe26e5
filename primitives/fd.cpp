#include "fd.h"

#include <sys/stat.h>

#include <fmt/format.h>

namespace ckc {

Result<UniqueFd> OpenFile(std::string_view path, int flags, mode_t mode) {
  std::string p(path);
  int fd = ::open(p.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0) return ErrnoError("open", p);
  return UniqueFd(fd);
}

Result<std::string> ReadFile(std::string_view path) {
  CKC_TRY(fd, OpenFile(path, O_RDONLY));
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("read", path);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

Status WriteFile(std::string_view path, std::string_view data) {
  CKC_TRY(fd, OpenFile(path, O_WRONLY));
  ssize_t n = ::write(fd.get(), data.data(), data.size());
  if (n < 0) return ErrnoError("write", fmt::format("{} <- {}", path, data));
  if (static_cast<size_t>(n) != data.size()) {
    return Failure("write", path, fmt::format("short write: {} of {} bytes", n, data.size()));
  }
  return {};
}

Status WriteFileAtomic(std::string_view path, std::string_view data, mode_t mode) {
  std::string tmp = fmt::format("{}.tmp.{}", path, ::getpid());
  {
    CKC_TRY(fd, OpenFile(tmp, O_WRONLY | O_CREAT | O_TRUNC, mode));
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::write(fd.get(), data.data() + done, data.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        auto err = ErrnoError("write", tmp);
        ::unlink(tmp.c_str());
        return err;
      }
      done += static_cast<size_t>(n);
    }
    if (::fsync(fd.get()) != 0) {
      auto err = ErrnoError("fsync", tmp);
      ::unlink(tmp.c_str());
      return err;
    }
  }
  if (::rename(tmp.c_str(), std::string(path).c_str()) != 0) {
    auto err = ErrnoError("rename", fmt::format("{} -> {}", tmp, path));
    ::unlink(tmp.c_str());
    return err;
  }
  return {};
}

}  // namespace ckc

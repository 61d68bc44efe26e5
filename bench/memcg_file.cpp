// bench.memcg-fault-file: charging file pages (page cache and shmem) to a memory cgroup.
//
// Loops, each with its backing file system fixed and named in the case name:
//   private   MAP_PRIVATE of a cached ext4/xfs/... file in the run directory, one write per
//             page: a copy-on-write fault charges a new anonymous page per page
//   shared    MAP_SHARED of a memfd (shmem), one write per page, munmap, truncate: each fault
//             allocates, charges and dirties a page-cache page; the truncate uncharges it
//   write     write() 64 KiB at a time into a memfd, then ftruncate(0): charge + uncharge with no
//             user-mode fault at all (the kernel-side path; ~0.7 µs/page on the dev VM)
//   read      read() of a file in the run directory after posix_fadvise(DONTNEED) dropped its
//             cache (untimed): the page-cache charge on a cache miss; also with memory.max at
//             50 % of the file, so reclaim runs inside the loop (clean page cache, no swap needed)
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <fmt/format.h>

#include <memory>
#include <string>
#include <vector>

#include "fd.h"
#include "memcg_cases.h"
#include "run_scope.h"

namespace ckc::bench {
namespace {

CKC_BENCH_ROW(kFaultFileRow, "bench.memcg-fault-file", "D", "BM_MemcgFaultFile",
              "the cost per page of file-backed faults, of page-cache reads and of write() into a "
              "tmpfs file followed by ftruncate (a charge and an uncharge with no user fault), in "
              "the same cgroup layout");

std::string FsName(int fd) {
  struct statfs s {};
  if (::fstatfs(fd, &s) != 0) return "unknown";
  switch (static_cast<unsigned long>(s.f_type)) {
    case 0xEF53:
      return "ext4";
    case 0x58465342:
      return "xfs";
    case 0x9123683E:
      return "btrfs";
    case 0x01021994:
      return "tmpfs";
    case 0x858458f6:
      return "ramfs";
    case 0x794c7630:
      return "overlay";
    default:
      return fmt::format("fs{:x}", static_cast<unsigned long>(s.f_type));
  }
}

// A file of `bytes` in the run directory, written and synced (its cache pages are clean).
Result<std::shared_ptr<UniqueFd>> DiskFile(const std::string& name, std::size_t bytes) {
  const RunScope* run = RunScope::Current();
  if (!run) return Failure("memcg", name, "no run scope");
  std::string path = run->dir() + "/" + name;
  CKC_TRY(fd, OpenFile(path, O_RDWR | O_CREAT | O_TRUNC, 0600));
  std::vector<char> chunk(1 << 20, 'x');
  for (std::size_t off = 0; off < bytes; off += chunk.size()) {
    std::size_t n = std::min(chunk.size(), bytes - off);
    if (::pwrite(fd.get(), chunk.data(), n, static_cast<off_t>(off)) != static_cast<ssize_t>(n)) {
      return ErrnoError("pwrite", path);
    }
  }
  if (::fsync(fd.get()) != 0) return ErrnoError("fsync", path);
  return std::make_shared<UniqueFd>(std::move(fd));
}

Result<std::shared_ptr<UniqueFd>> Memfd(const char* name) {
  int fd = ::memfd_create(name, MFD_CLOEXEC);
  if (fd < 0) return ErrnoError("memfd_create", name);
  return std::make_shared<UniqueFd>(fd);
}

Result<double> MapCycle(int fd, std::size_t bytes, int share, bool truncate) {
  double t0 = ThreadCpuSeconds();
  if (truncate && ::ftruncate(fd, static_cast<off_t>(bytes)) != 0) return ErrnoError("ftruncate");
  void* map = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, share, fd, 0);
  if (map == MAP_FAILED) return ErrnoError("mmap", fmt::format("fd {} {} bytes", fd, bytes));
  auto* p = static_cast<volatile char*>(map);
  for (std::size_t off = 0; off < bytes; off += kPage) p[off] = 1;
  if (::munmap(map, bytes) != 0) return ErrnoError("munmap");
  if (truncate && ::ftruncate(fd, 0) != 0) return ErrnoError("ftruncate", "0");
  return ThreadCpuSeconds() - t0;
}

// 64 KiB per write(): one system call per 16 pages, so that the entry/exit cost (large on a VM
// with page-table isolation) does not bury the per-page charge.
constexpr std::size_t kWriteChunk = 64 << 10;

Result<double> WriteCycle(int fd, std::size_t bytes) {
  static const std::vector<char> chunk(kWriteChunk, 'w');
  double t0 = ThreadCpuSeconds();
  for (std::size_t off = 0; off < bytes; off += kWriteChunk) {
    std::size_t n = std::min(kWriteChunk, bytes - off);
    if (::pwrite(fd, chunk.data(), n, static_cast<off_t>(off)) != static_cast<ssize_t>(n)) {
      return ErrnoError("pwrite", "memfd");
    }
  }
  if (::ftruncate(fd, 0) != 0) return ErrnoError("ftruncate", "memfd");
  return ThreadCpuSeconds() - t0;
}

Result<double> ReadCycle(int fd, std::size_t bytes) {
  static std::vector<char> buf(128 << 10);
  double t0 = ThreadCpuSeconds();
  for (std::size_t off = 0; off < bytes; off += buf.size()) {
    if (::pread(fd, buf.data(), buf.size(), static_cast<off_t>(off)) < 0)
      return ErrnoError("pread");
  }
  return ThreadCpuSeconds() - t0;
}

Status DropCache(int fd) {
  if (int e = ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED); e != 0) {
    errno = e;
    return ErrnoError("posix_fadvise", "POSIX_FADV_DONTNEED");
  }
  return {};
}

}  // namespace

Status RegisterFile(MemcgEnv& env) {
  const std::size_t user_bytes = ByMode<std::size_t>(1u << 20, 16u << 20, 128u << 20);
  const std::size_t read_bytes = ByMode<std::size_t>(2u << 20, 16u << 20, 64u << 20);
  CKC_TRY(disk, DiskFile("memcg-private.dat", user_bytes));
  CKC_TRY(shm, Memfd("ckc-bench-shared"));
  CKC_TRY(wfd, Memfd("ckc-bench-write"));
  CKC_TRY(rfd, DiskFile("memcg-read.dat", read_bytes));
  const std::string disk_fs = FsName(disk->get());
  LoopSpec priv{
      .family = "BM_MemcgFaultFile",
      .id = kFaultFileRow.id,
      .loop = "private/fs:" + disk_fs,
      .fs = disk_fs,
      .bytes = user_bytes,
      .iterations = ByMode<int64_t>(1, 1, 2),
      .cycle = [disk](std::size_t b) { return MapCycle(disk->get(), b, MAP_PRIVATE, false); }};
  RegisterDepthSeries(env, priv);
  LoopSpec shared = priv;
  shared.loop = "shared/fs:shmem";
  shared.fs = "shmem";
  shared.cycle = [shm](std::size_t b) { return MapCycle(shm->get(), b, MAP_SHARED, true); };
  RegisterDepthSeries(env, shared);
  LoopSpec write = shared;
  write.loop = "write/fs:shmem";
  write.bytes = ByMode<std::size_t>(2u << 20, 32u << 20, 128u << 20);
  write.iterations = ByMode<int64_t>(1, 4, 16);
  write.cycle = [wfd](std::size_t b) { return WriteCycle(wfd->get(), b); };
  RegisterDepthSeries(env, write);
  LoopSpec read{.family = "BM_MemcgFaultFile",
                .id = kFaultFileRow.id,
                .loop = "read/fs:" + FsName(rfd->get()),
                .fs = FsName(rfd->get()),
                .bytes = read_bytes,
                .iterations = ByMode<int64_t>(1, 2, 4),
                .limit_pcts = {50},
                .cycle = [rfd](std::size_t b) { return ReadCycle(rfd->get(), b); },
                .before_cycle = [rfd] { return DropCache(rfd->get()); }};
  RegisterDepthSeries(env, read);
  benchmark::AddCustomContext("ckc_file_fs", disk_fs);
  return {};
}

}  // namespace ckc::bench

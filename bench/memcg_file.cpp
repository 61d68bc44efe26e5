// bench.memcg-fault-file: charging file pages (page cache and shmem) to a memory cgroup.
//
// Loops, each with its backing file system fixed and named in the case name:
//   private   MAP_PRIVATE of a cached ext4/xfs/... file in the run directory, one write per
//             page: a copy-on-write fault charges a new anonymous page per page
//   shared    MAP_SHARED of a memfd (shmem), one write per page, munmap, truncate: each fault
//             allocates, charges and dirties a page-cache page; the truncate uncharges it
//   write     write() 64 KiB at a time into a memfd, then ftruncate(0): charge + uncharge with no
//             user-mode fault at all (the kernel-side path; ~0.7 µs/page on the dev VM)
//   read      read() of a file on an ext4 scratch file system (a loop device over a sparse image
//             in the run directory) after posix_fadvise(DONTNEED) dropped its cache (untimed,
//             and checked with mincore() before every cycle: "cache:not-dropped" errors the
//             case): the page-cache charge on a cache miss; also with memory.max at 50 % of the
//             file, so reclaim runs inside the loop (clean page cache, no swap needed). Without
//             a loop device or mkfs.ext4 it skips ("needs:loop-device", "needs:mkfs.ext4").
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <fmt/format.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "checks.h"
#include "fd.h"
#include "loopdev.h"
#include "loopdev_mkfs.h"
#include "memcg_cases.h"
#include "mounts.h"
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

// The read loop's file on a file system whose cache posix_fadvise(DONTNEED) really drops (tmpfs
// has no backing store to re-read from and keeps it): ext4 on a loop device over a sparse image
// in the run directory, mounted below the run directory in the process's own mount namespace
// (memcg_main.cpp made it). The file is also mapped, never touched, so that mincore() can tell
// how much of it is cached. Teardown runs the members backwards: the mapping goes (destructor
// body), the descriptor closes, the mount is detached, then the device.
struct ColdFile {
  LoopDevice loop;
  Mount mount;
  UniqueFd fd;
  void* map = nullptr;
  std::size_t bytes = 0;
  ColdFile() = default;
  ColdFile(const ColdFile&) = delete;
  ColdFile& operator=(const ColdFile&) = delete;
  ~ColdFile() {
    if (map) ::munmap(map, bytes);
  }
};

Result<std::size_t> ResidentPages(const ColdFile& f, std::size_t* pages) {
  std::vector<unsigned char> resident((f.bytes + kPage - 1) / kPage);
  if (::mincore(f.map, f.bytes, resident.data()) != 0) return ErrnoError("mincore", "read file");
  std::size_t n = 0;
  for (unsigned char r : resident) n += r & 1;
  *pages = resident.size();
  return n;
}

// "" when the cache of `f` is (nearly) empty, else the reason the cycle would not read cold.
// DONTNEED skips pages still locked for I/O (the readahead a previous cycle started beyond what
// it read, completed by the loop device's worker), so it is repeated, untimed, a few times.
Result<std::string> ColdCheck(const ColdFile& f) {
  std::size_t pages = 0;
  CKC_TRY(n, ResidentPages(f, &pages));
  for (int retry = 0; retry < 50 && !CacheDropProblem(n, pages).empty(); ++retry) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    CKC_CHECK(DropCache(f.fd.get()));
    CKC_TRY(again, ResidentPages(f, &pages));
    n = again;
  }
  return CacheDropProblem(n, pages);
}

// The ext4 scratch file, or the skip reason in *reason ("needs:loop-device", ...) and the error.
Result<std::shared_ptr<ColdFile>> MakeColdFile(std::size_t bytes, bool private_mount_ns,
                                               std::string* reason) {
  const RunScope* run = RunScope::Current();
  if (!run) return Failure("memcg", "read file", "no run scope");
  *reason = "needs:private-mount-ns";
  if (!private_mount_ns) return Failure("unshare", "CLONE_NEWNS", "no mount namespace of our own");
  *reason = "needs:mkfs.ext4";
  std::string mkfs = FindMkfsExt4();
  if (mkfs.empty()) return Failure("mkfs.ext4", "PATH", "neither mkfs.ext4 nor mke2fs installed");
  auto f = std::make_shared<ColdFile>();
  *reason = "needs:loop-device";
  CKC_TRY(loop, LoopDevice::Create(run->dir() + "/memcg-read.img", bytes + (64u << 20)));
  f->loop = std::move(loop);
  *reason = "setup:mkfs.ext4";
  CKC_CHECK(MakeExt4(mkfs, f->loop.path()));
  std::string dir = run->dir() + "/ext4";
  CKC_CHECK(MakeDirs(dir));
  auto mnt = MountFs(f->loop.path(), dir, "ext4", 0, "");
  if (!mnt) {
    *reason = mnt.error().err == ENODEV ? "config:CONFIG_EXT4_FS" : "setup:mount-ext4";
    return std::unexpected(mnt.error());
  }
  f->mount = std::move(*mnt);
  *reason = "setup:read-file";
  CKC_TRY(file, DiskFile("ext4/memcg-read.dat", bytes));
  f->fd = std::move(*file);
  f->bytes = bytes;
  void* map = ::mmap(nullptr, bytes, PROT_READ, MAP_SHARED, f->fd.get(), 0);
  if (map == MAP_FAILED) return ErrnoError("mmap", "ext4/memcg-read.dat");
  f->map = map;
  reason->clear();
  return f;
}

}  // namespace

Status RegisterFile(MemcgEnv& env, bool private_mount_ns) {
  const std::size_t user_bytes = ByMode<std::size_t>(1u << 20, 16u << 20, 128u << 20);
  const std::size_t read_bytes = ByMode<std::size_t>(2u << 20, 16u << 20, 64u << 20);
  CKC_TRY(disk, DiskFile("memcg-private.dat", user_bytes));
  CKC_TRY(shm, Memfd("ckc-bench-shared"));
  CKC_TRY(wfd, Memfd("ckc-bench-write"));
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
                .loop = "read/fs:ext4",
                .fs = "ext4",
                .bytes = read_bytes,
                .iterations = ByMode<int64_t>(1, 2, 4),
                .limit_pcts = {50}};
  std::string reason;
  if (auto cold = MakeColdFile(read_bytes, private_mount_ns, &reason)) {
    std::shared_ptr<ColdFile> f = *cold;
    read.cycle = [f](std::size_t b) { return ReadCycle(f->fd.get(), b); };
    read.before_cycle = [f] { return DropCache(f->fd.get()); };
    read.check_cycle = [f] { return ColdCheck(*f); };
  } else {
    read.unavailable = fmt::format("{} ({})", reason, cold.error().Message());
  }
  RegisterDepthSeries(env, read);
  benchmark::AddCustomContext("ckc_file_fs", disk_fs);
  return {};
}

}  // namespace ckc::bench

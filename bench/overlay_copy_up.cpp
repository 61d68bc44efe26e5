// bench.overlay-copy-up: latency of the first write to a lower-layer file through overlayfs, by
// file size (overlayfs.rst "Copy up": opening a lower file for write copies it, data included,
// to the upper layer before the open returns). Timed: open(O_WRONLY) + 1-byte write + close.
// Untimed between iterations: unmount the previous overlay (its superblock goes with it), empty
// upper and work dirs, mount it again, so every timed open meets a file that has not been
// copied up yet and no teardown lands in the figure.
//   BM_OverlayCopyUp/bytes:N        the row's figures by size
//   BM_OverlayCopyUp/curve:size/kib:N  the same, as a scale curve (slope group
//                                   BM_OverlayCopyUp/curve:size, ns per KiB): a copy-up copies
//                                   the data, so the cost is meant to grow linearly with size
//
// Lower, upper and work dirs sit on one tmpfs (so the copy is memory to memory and the figure is
// overlayfs' own cost, not a disk's), mounted in the process's private mount namespace below the
// run directory; pieces_main.cpp made that namespace (nothing reaches the host's mount table).
#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "fd.h"
#include "harness.h"
#include "mounts.h"
#include "pieces.h"
#include "run_scope.h"

namespace ckc::bench {
namespace {

CKC_BENCH_ROW(kOverlayCopyUpRow, "bench.overlay-copy-up", "D", "BM_OverlayCopyUp",
              "the latency of the first write to a lower file through an overlay mount (its "
              "copy-up), by file size from 4 KiB to 64 MiB");

namespace fs = std::filesystem;

struct Layers {
  Mount tmpfs;
  std::string base;  // <run dir>/overlay on the tmpfs
  [[nodiscard]] std::string lower() const { return base + "/lower"; }
  [[nodiscard]] std::string upper() const { return base + "/upper"; }
  [[nodiscard]] std::string work() const { return base + "/work"; }
  [[nodiscard]] std::string merged() const { return base + "/merged"; }
};

Status WriteSized(const std::string& path, std::size_t bytes) {
  CKC_TRY(fd, OpenFile(path, O_WRONLY | O_CREAT | O_TRUNC, 0644));
  std::vector<char> chunk(1 << 20, 'o');
  for (std::size_t off = 0; off < bytes; off += chunk.size()) {
    std::size_t n = std::min(chunk.size(), bytes - off);
    if (::write(fd.get(), chunk.data(), n) != static_cast<ssize_t>(n))
      return ErrnoError("write", path);
  }
  return {};
}

Result<Mount> MountOverlay(const Layers& l) {
  std::error_code ec;
  fs::remove_all(l.upper(), ec);
  fs::remove_all(l.work(), ec);
  CKC_CHECK(MakeDirs(l.upper()));
  CKC_CHECK(MakeDirs(l.work()));
  return MountFs("overlay", l.merged(), "overlay", 0,
                 fmt::format("lowerdir={},upperdir={},workdir={}", l.lower(), l.upper(), l.work()));
}

Status FirstWrite(const std::string& path) {
  CKC_TRY(fd, OpenFile(path, O_WRONLY));
  if (::write(fd.get(), "x", 1) != 1) return ErrnoError("write", path);
  return {};
}

void BM_OverlayCopyUp(benchmark::State& state, const std::shared_ptr<Layers>& l, std::size_t bytes,
                      const std::string& file) {
  if (!l)
    return Skip(state, Failure("overlay", "layers", "no private mount namespace"), "needs:root");
  // The overlay of the previous iteration: unmounted with the timer paused (and the last one
  // after the loop), never inside the timed region.
  std::optional<Mount> overlay;
  for (auto _ : state) {
    state.PauseTiming();
    overlay.reset();
    auto m = MountOverlay(*l);
    if (!m) {
      Skip(state, m.error(),
           m.error().err == ENODEV ? "config:CONFIG_OVERLAY_FS" : "setup:overlay");
      break;
    }
    overlay.emplace(std::move(*m));
    state.ResumeTiming();
    if (auto st = FirstWrite(l->merged() + "/" + file); !st) {
      Skip(state, st.error(), "overlay-write");
      break;
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(bytes));
}

}  // namespace

Status RegisterOverlayCopyUp(bool private_mount_ns) {
  std::vector<std::size_t> sizes = ByMode<std::vector<std::size_t>>(
      {4u << 10, 1u << 20}, {4u << 10, 64u << 10, 1u << 20, 16u << 20},
      {4u << 10, 64u << 10, 1u << 20, 16u << 20, 64u << 20});
  std::vector<std::size_t> curve = ByMode<std::vector<std::size_t>>(
      {4u << 10, 64u << 10}, {4u << 10, 64u << 10, 1u << 20, 16u << 20},
      {4u << 10, 64u << 10, 256u << 10, 1u << 20, 4u << 20, 16u << 20});
  std::set<std::size_t> files(sizes.begin(), sizes.end());
  files.insert(curve.begin(), curve.end());
  std::shared_ptr<Layers> layers;
  if (private_mount_ns) {
    layers = std::make_shared<Layers>();
    layers->base = RunScope::Current()->dir() + "/overlay";
    CKC_CHECK(MakeDirs(layers->base));
    CKC_TRY(t, MountTmpfs(layers->base, "size=256m"));
    layers->tmpfs = std::move(t);
    CKC_CHECK(MakeDirs(layers->lower()));
    CKC_CHECK(MakeDirs(layers->merged()));
    for (std::size_t b : files) CKC_CHECK(WriteSized(layers->lower() + fmt::format("/f{}", b), b));
  }
  for (std::size_t b : sizes) {
    std::string file = fmt::format("f{}", b);
    Add({.name = fmt::format("BM_OverlayCopyUp/bytes:{}", b),
         .id = kOverlayCopyUpRow.id,
         .fn = [layers, b, file](benchmark::State& s) { BM_OverlayCopyUp(s, layers, b, file); }});
  }
  for (std::size_t b : curve) {
    std::string file = fmt::format("f{}", b);
    Add({.name = fmt::format("BM_OverlayCopyUp/curve:size/kib:{}", b >> 10),
         .id = kOverlayCopyUpRow.id,
         .fn = [layers, b, file](benchmark::State& s) { BM_OverlayCopyUp(s, layers, b, file); },
         .slope_group = "BM_OverlayCopyUp/curve:size",
         .level = static_cast<int>(b >> 10),
         .shape = "linear"});
  }
  return {};
}

}  // namespace ckc::bench

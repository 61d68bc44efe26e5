// Formatting a loop device (or any block device) as ext4 with the host's e2fsprogs, for tests
// and benchmarks that need a real disk file system (one whose page cache posix_fadvise drops,
// one that takes idmapped mounts where tmpfs does not).
//
//   std::string mkfs = FindMkfsExt4();          // "" when neither mkfs.ext4 nor mke2fs exists
//   CKC_TRY(loop, LoopDevice::Create(dir + "/disk.img", 64 << 20));
//   CKC_CHECK(MakeExt4(mkfs, loop.path()));     // quiet `mkfs -F device`, 20 s at most
#pragma once

#include <string>

#include "result.h"

namespace ckc {

// The first of mkfs.ext4 / mke2fs found in the usual sbin/bin directories, "" if none.
[[nodiscard]] std::string FindMkfsExt4();

// `mkfs -F device` with its output discarded (e2fsprogs' mkfs.ext4 and busybox mke2fs both take
// -F); a Failure naming the tool, the device and how the tool ended otherwise.
[[nodiscard]] Status MakeExt4(const std::string& mkfs, const std::string& device);

}  // namespace ckc

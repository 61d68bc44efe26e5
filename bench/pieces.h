// The container-pieces benchmarks of ckc-bench-pieces, one file per area; each registers its cases
// with the harness (bench/harness.h).
#pragma once

#include "result.h"

namespace ckc::bench {

void RegisterNsCreate();                       // ns_create.cpp: bench.ns-create
[[nodiscard]] Status RegisterNetnsTeardown();  // netns_teardown.cpp: bench.netns-teardown
[[nodiscard]] Status RegisterVeth();           // veth.cpp: bench.veth
// overlay_copy_up.cpp: bench.overlay-copy-up; needs the process in a private mount namespace.
[[nodiscard]] Status RegisterOverlayCopyUp(bool private_mount_ns);
[[nodiscard]] Status RegisterCgroupOps();  // cgroup_ops.cpp: bench.cgroup-ops

}  // namespace ckc::bench

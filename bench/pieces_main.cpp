// ckc-bench-pieces: the cost of the pieces a container is made of (bench.ns-create,
// bench.netns-teardown, bench.veth, bench.overlay-copy-up, bench.cgroup-ops). Most need root;
// without it those cases are reported skipped with needs:root.
//
// The process first moves into a mount namespace of its own with / made rprivate (while it is
// still single-threaded, as unshare(CLONE_NEWNS) requires): the overlay benchmark mounts there,
// and nothing reaches the host's mount table.
#include <sched.h>
#include <unistd.h>

#include <cstdio>

#include "harness.h"
#include "mounts.h"
#include "namespaces.h"
#include "pieces.h"
#include "run_scope.h"

namespace {

bool EnterPrivateMountNs() {
  if (::geteuid() != 0) return false;
  if (auto st = ckc::Unshare(CLONE_NEWNS); !st) {
    std::fprintf(stderr, "ckc-bench-pieces: %s\n", st.error().Message().c_str());
    return false;
  }
  return static_cast<bool>(ckc::MakeRootPrivate());
}

}  // namespace

int main(int argc, char** argv) {
  bool private_ns = EnterPrivateMountNs();
  int rc = ckc::bench::Main(argc, argv, "ckc-bench-pieces", [private_ns]() -> ckc::Status {
    CKC_TRY(run, ckc::RunScope::Open());
    (void)run;
    ckc::bench::RegisterNsCreate();
    CKC_CHECK(ckc::bench::RegisterNetnsTeardown());
    CKC_CHECK(ckc::bench::RegisterVeth());
    CKC_CHECK(ckc::bench::RegisterOverlayCopyUp(private_ns));
    CKC_CHECK(ckc::bench::RegisterCgroupOps());
    return {};
  });
  if (auto* run = ckc::RunScope::Current()) run->Close();
  return rc;
}

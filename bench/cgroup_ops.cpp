// bench.cgroup-ops: the three cgroup operations a runtime makes per container (cgroup-v2.rst
// "Basic Operations"): mkdir of a group, attaching a process (write to cgroup.procs), rmdir of
// the emptied group; for a cheap controller (pids) and the memory controller (whose css carries
// per-CPU statistics to allocate and, on rmdir, to offline). The timed call is the bare
// system call; the groups sit below a run-scoped parent made with the cgroup layer.
//   curve:cg-siblings/op:mkdir-rmdir/controller:memory/siblings:N  mkdir + rmdir of one memory
//       cgroup beside N siblings made beforehand: a scale curve (slope group
//       BM_CgroupOps/curve:cg-siblings/controller:memory). A directory's entries are an rbtree
//       (kernfs) and nothing else walks the siblings, so the cost is meant to be flat in N.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "cgroups.h"
#include "fd.h"
#include "harness.h"
#include "pieces.h"
#include "process.h"

namespace ckc::bench {
namespace {

CKC_BENCH_ROW(kCgroupOpsRow, "bench.cgroup-ops", "D", "BM_CgroupOps",
              "the cost of making a cgroup directory, moving a process into it and removing it, "
              "per controller");

struct OpsGroups {
  Cgroup parent, a, b;  // a and b: attach targets; declared after parent, destroyed first
  std::string dir;      // parent's directory for `controller`
  Child parked;         // the process moved between a and b; killed before the groups go
  UniqueFd a_procs, b_procs;
};

void BM_CgroupMkdirRmdir(benchmark::State& state, const std::shared_ptr<OpsGroups>& g,
                         bool time_mkdir) {
  std::string path = g->dir + "/x";
  for (auto _ : state) {
    if (!time_mkdir) state.PauseTiming();
    int rc = ::mkdir(path.c_str(), 0755), err = errno;
    if (!time_mkdir) state.ResumeTiming();
    if (rc != 0) {
      Skip(state, Error{err, "mkdir", path, {}}, "cgroup-mkdir");
      break;
    }
    if (time_mkdir) state.PauseTiming();
    rc = ::rmdir(path.c_str());
    err = errno;
    if (time_mkdir) state.ResumeTiming();
    if (rc != 0) {
      Skip(state, Error{err, "rmdir", path, {}}, "cgroup-rmdir");
      break;
    }
  }
}

void BM_CgroupAttach(benchmark::State& state, const std::shared_ptr<OpsGroups>& g) {
  std::string pid = std::to_string(g->parked.pid());
  bool to_a = true;
  for (auto _ : state) {
    int fd = to_a ? g->a_procs.get() : g->b_procs.get();
    if (::write(fd, pid.data(), pid.size()) != static_cast<ssize_t>(pid.size())) {
      Skip(state, ErrnoError("write", "cgroup.procs").error(), "cgroup-attach");
      break;
    }
    to_a = !to_a;
  }
}

Result<std::shared_ptr<OpsGroups>> MakeGroups(const CgroupSystem& sys, const std::string& ctrl) {
  auto g = std::make_shared<OpsGroups>();
  CKC_TRY(parent, Cgroup::Create(sys, "ops-" + ctrl, {ctrl}));
  g->parent = std::move(parent);
  CKC_TRY(dir, g->parent.Dir(ctrl));
  g->dir = dir;
  CKC_TRY(a, g->parent.CreateChild("a"));
  CKC_TRY(b, g->parent.CreateChild("b"));
  g->a = std::move(a);
  g->b = std::move(b);
  CKC_TRY(adir, g->a.Dir(ctrl));
  CKC_TRY(bdir, g->b.Dir(ctrl));
  CKC_TRY(ap, OpenFile(adir + "/cgroup.procs", O_WRONLY));
  CKC_TRY(bp, OpenFile(bdir + "/cgroup.procs", O_WRONLY));
  g->a_procs = std::move(ap);
  g->b_procs = std::move(bp);
  CKC_TRY(child, SpawnIn(g->a, [] {
            for (;;) ::pause();
            return 0;
          }));
  g->parked = std::move(child);
  return g;
}

// A parent with `count` children made beforehand; member order is teardown order reversed (the
// children go first).
struct SiblingGroups {
  Cgroup parent;
  std::deque<Cgroup> children;
  std::string dir;  // parent's directory for the controller
};

Result<std::shared_ptr<SiblingGroups>> MakeSiblings(const CgroupSystem& sys,
                                                    const std::string& ctrl, int count) {
  auto g = std::make_shared<SiblingGroups>();
  CKC_TRY(parent, Cgroup::Create(sys, fmt::format("cgsib-{}-{}", ctrl, count), {ctrl}));
  g->parent = std::move(parent);
  CKC_TRY(dir, g->parent.Dir(ctrl));
  g->dir = dir;
  for (int i = 0; i < count; ++i) {
    CKC_TRY(child, g->parent.CreateChild(fmt::format("s{}", i)));
    g->children.push_back(std::move(child));
  }
  return g;
}

void BM_CgroupMkdirRmdirBeside(benchmark::State& state, const std::shared_ptr<SiblingGroups>& g) {
  std::string path = g->dir + "/x";
  for (auto _ : state) {
    if (::mkdir(path.c_str(), 0755) != 0) {
      Skip(state, ErrnoError("mkdir", path).error(), "cgroup-mkdir");
      break;
    }
    if (::rmdir(path.c_str()) != 0) {
      Skip(state, ErrnoError("rmdir", path).error(), "cgroup-rmdir");
      break;
    }
  }
  state.counters["siblings"] = static_cast<double>(g->children.size());
}

void RegisterSiblingCurve(const Result<CgroupSystem>& sys) {
  const std::string ctrl = "memory";
  for (int n : ByMode<std::vector<int>>({1, 4}, {1, 16, 256}, {1, 4, 16, 64, 256})) {
    Case c{.name = fmt::format("BM_CgroupOps/curve:cg-siblings/op:mkdir-rmdir/controller:{}/"
                               "siblings:{}",
                               ctrl, n),
           .id = kCgroupOpsRow.id};
    if (::geteuid() != 0 || !sys) {
      Error why{0, "cgroup", ctrl, "needs root and a cgroup mount"};
      c.fn = [why](benchmark::State& s) { Skip(s, why, "needs:root"); };
    } else if (auto g = MakeSiblings(*sys, ctrl, n); !g) {
      Error why = g.error();
      c.fn = [why](benchmark::State& s) { Skip(s, why, "setup:cgroup"); };
    } else {
      c.fn = [g = *g](benchmark::State& s) { BM_CgroupMkdirRmdirBeside(s, g); };
    }
    c.slope_group = fmt::format("BM_CgroupOps/curve:cg-siblings/controller:{}", ctrl);
    c.level = n;
    c.shape = "flat";
    Add(std::move(c));
  }
}

}  // namespace

Status RegisterCgroupOps() {
  auto sys = CgroupSystem::Current();
  for (std::string ctrl : {"pids", "memory"}) {
    std::shared_ptr<OpsGroups> g;
    Error why{0, "cgroup", ctrl, "needs:root"};
    if (::geteuid() == 0 && sys) {
      if (auto made = MakeGroups(*sys, ctrl)) {
        g = *made;
      } else {
        why = made.error();
      }
    }
    auto add = [&](const std::string& op, std::function<void(benchmark::State&)> fn) {
      Add({.name = fmt::format("BM_CgroupOps/op:{}/controller:{}", op, ctrl),
           .id = kCgroupOpsRow.id,
           .fn = g ? fn : [why](benchmark::State& s) {
             Skip(s, why, ::geteuid() != 0 ? "needs:root" : "setup:cgroup");
           }});
    };
    add("mkdir", [g](benchmark::State& s) { BM_CgroupMkdirRmdir(s, g, true); });
    add("rmdir", [g](benchmark::State& s) { BM_CgroupMkdirRmdir(s, g, false); });
    add("attach", [g](benchmark::State& s) { BM_CgroupAttach(s, g); });
  }
  RegisterSiblingCurve(sys);
  return {};
}

}  // namespace ckc::bench

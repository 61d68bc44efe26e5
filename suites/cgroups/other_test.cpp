// Rows hugetlb.limit, perf.cgroup-events, rdma.present (D "Other controllers";
// cgroup-v1/hugetlb.rst, cgroup-v2.rst "HugeTLB", "perf_event", "RDMA"; perf_event_open(2)).
#include <linux/perf_event.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fmt/format.h>
#include <sstream>

#include "cg_suite.h"

namespace ckc::test {
namespace {

// "Hugepagesize:" of /proc/meminfo in kB, and HugePages_Free.
std::pair<uint64_t, uint64_t> HugePages() {
  auto text = ReadFile("/proc/meminfo");
  uint64_t size_kb = 0, free = 0;
  if (!text) return {0, 0};
  std::istringstream in(*text);
  for (std::string key; in >> key;) {
    uint64_t v = 0;
    in >> v;
    if (key == "Hugepagesize:") size_kb = v;
    if (key == "HugePages_Free:") free = v;
    std::string rest;
    std::getline(in, rest);
  }
  return {size_kb, free};
}

// Reserving huge pages changes the machine (vm.nr_hugepages): only a VM's init does it.
Requirement HugePagesReserved() {
  return {[]() -> std::optional<std::string> {
    auto [size_kb, free] = HugePages();
    if (size_kb > 0 && free >= 2) return std::nullopt;
    return fmt::format(
        "setup:no-hugepages-reserved ({} free huge pages; ckc never writes the host's "
        "vm.nr_hugepages)",
        free);
  }};
}

TEST(Hugetlb, Limit) {
  // Source: cgroup-v1/hugetlb.rst ("the hugetlb controller limits HugeTLB usage per control
  // group ... SIGBUS on page fault beyond the limit"); cgroup-v2.rst hugetlb.<size>.max.
  // Negative control: with no huge pages reserved (vm.nr_hugepages 0, as ckc leaves the host) it
  // skips setup:no-hugepages-reserved; a limit of two pages lets the second fault in: it fails.
  CKC_BEHAVIOUR("hugetlb.limit", "K",
                "the hugetlb controller caps a group's huge page usage: faulting in a huge page "
                "past the limit raises SIGBUS");
  CKC_REQUIRE(Root(), Controller("hugetlb"), HugePagesReserved());
  auto [size_kb, free] = HugePages();
  std::string size = size_kb >= 1024 * 1024 ? fmt::format("{}GB", size_kb >> 20)
                                            : fmt::format("{}MB", size_kb >> 10);
  ASSERT_OK_AND_ASSIGN(Cgroup cg, Cgroup::Create(Cgroups(), "hugetlb", {"hugetlb"}));
  bool v1 = cg.version("hugetlb") == CgroupVersion::kV1;
  size_t page = size_kb * 1024;
  ASSERT_OK(cg.Write("hugetlb", fmt::format("hugetlb.{}.{}", size, v1 ? "limit_in_bytes" : "max"),
                     std::to_string(page)));
  ASSERT_OK_AND_ASSIGN(ChildResult r, RunIn(cg, [page](Channel& ch) {
                         void* p = ::mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE,
                                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
                         if (p == MAP_FAILED) return ReportErrno(ch, "mmap");
                         auto* c = static_cast<volatile char*>(p);
                         c[0] = 1;
                         (void)ch.Send("first page ok");
                         c[page] = 1;  // beyond the group's limit: SIGBUS
                         return Report(ch, "second page ok", 0);
                       }));
  ASSERT_FALSE(r.reports.empty()) << "one huge page is within the limit: " << r.Describe() << " ("
                                  << free << " free)";
  EXPECT_EQ(r.reports[0], "first page ok") << r.Describe();
  EXPECT_TRUE(r.status.KilledBy(SIGBUS))
      << "the second huge page is beyond the 1-page limit: " << r.Describe();
  // The controller's own count of refused charges: v1 failcnt, v2 events "max" (where present).
  std::string counter = fmt::format("hugetlb.{}.{}", size, v1 ? "failcnt" : "events");
  if (cg.Has("hugetlb", counter)) {
    uint64_t refused = 0;
    if (v1) {
      ASSERT_OK_AND_ASSIGN(std::string raw, cg.Read("hugetlb", counter));
      refused = std::strtoull(raw.c_str(), nullptr, 10);
    } else {
      ASSERT_OK_AND_ASSIGN(auto keyed, cg.ReadKeyed("hugetlb", counter));
      refused = keyed["max"];
    }
    EXPECT_GE(refused, 1u) << counter << ": the charge of the second page was refused";
  }
}

long PerfEventOpen(perf_event_attr* attr, int pid, int cpu, unsigned long flags) {
  return ::syscall(SYS_perf_event_open, attr, pid, cpu, -1, flags);
}

TEST(Perf, CgroupEvents) {
  // Source: perf_event_open(2) PERF_FLAG_PID_CGROUP ("per-container system-wide monitoring":
  // pid is a cgroup directory fd, cpu must be >= 0); cgroup-v2.rst "perf_event".
  // Negative control: a kernel built without CONFIG_CGROUP_PERF skips config:CONFIG_CGROUP_PERF;
  // a counter that also counted the child outside the group exceeds 1.2x and fails.
  CKC_BEHAVIOUR("perf.cgroup-events", "K",
                "a perf counter opened on a cgroup with PERF_FLAG_PID_CGROUP counts the time of "
                "that group's tasks and of no others");
  CKC_REQUIRE(Root(), Config("CONFIG_PERF_EVENTS"), Config("CONFIG_CGROUP_PERF"),
              Controller("perf_event"));
  ASSERT_OK_AND_ASSIGN(Cgroup cg, Cgroup::Create(Cgroups(), "perf", {"perf_event"}));
  ASSERT_OK_AND_ASSIGN(std::string dir, cg.Dir("perf_event"));
  ASSERT_OK_AND_ASSIGN(UniqueFd dir_fd, OpenFile(dir, O_RDONLY | O_DIRECTORY));
  std::vector<UniqueFd> counters;
  for (int cpu = 0; cpu < OnlineCpus(); ++cpu) {
    perf_event_attr attr{};
    attr.size = sizeof attr;
    attr.type = PERF_TYPE_SOFTWARE;
    attr.config = PERF_COUNT_SW_TASK_CLOCK;
    long fd = PerfEventOpen(&attr, dir_fd.get(), cpu, PERF_FLAG_PID_CGROUP | PERF_FLAG_FD_CLOEXEC);
    ASSERT_THAT(fd, SyscallSucceeds())
        << "perf_event_open(task-clock, cgroup " << dir << ", cpu " << cpu << ")";
    counters.emplace_back(static_cast<int>(fd));
  }
  // One busy child inside the group and one outside, at the same time.
  auto spin = [](Channel& ch) {
    if (!ch.Expect("go").has_value()) return 1;
    Spin(300ms);
    return Report(ch, std::to_string(SelfCpuUsec()), 0);
  };
  ASSERT_OK_AND_ASSIGN(InGroup inside, StartIn(cg, spin));
  ASSERT_OK_AND_ASSIGN(Channel out_ch, Channel::Create());
  ASSERT_OK_AND_ASSIGN(Child outside, Spawn({}, [&] {
                         out_ch.BecomeChild();
                         return spin(out_ch);
                       }));
  out_ch.BecomeParent();
  ASSERT_OK(inside.ch.Send("go"));
  ASSERT_OK(out_ch.Send("go"));
  ASSERT_OK_AND_ASSIGN(std::string in_us, inside.ch.Recv(10s));
  ASSERT_OK_AND_ASSIGN(std::string out_us, out_ch.Recv(10s));
  ASSERT_OK_AND_ASSIGN(ExitStatus s1, inside.child.Wait(10s));
  ASSERT_OK_AND_ASSIGN(ExitStatus s2, outside.Wait(10s));
  ASSERT_TRUE(s1.Exited(0) && s2.Exited(0)) << s1.Describe() << " / " << s2.Describe();
  uint64_t total_ns = 0;
  for (const auto& fd : counters) {
    uint64_t v = 0;
    ASSERT_EQ(::read(fd.get(), &v, sizeof v), ssize_t(sizeof v));
    total_ns += v;
  }
  double inside_ns = std::stod(in_us) * 1000, outside_ns = std::stod(out_us) * 1000;
  std::string seen = fmt::format(
      "cgroup task-clock {} ns; the child inside used {:.0f} ns, the one "
      "outside {:.0f} ns",
      total_ns, inside_ns, outside_ns);
  EXPECT_GE(double(total_ns), 0.8 * inside_ns) << "the group's CPU time is counted: " << seen;
  EXPECT_LE(double(total_ns), 1.2 * inside_ns + 5e6)
      << "only the group's tasks are counted: " << seen;
}

// A known kernel config, so that "not listed" can be told apart from "not built".
Requirement KnownConfig() {
  return {[]() -> std::optional<std::string> {
    if (!RunningKernelConfig().source.empty()) return std::nullopt;
    return "setup:no-kernel-config (cannot tell whether CONFIG_CGROUP_RDMA is built)";
  }};
}

TEST(Rdma, Present) {
  // Source: cgroup-v1/rdma.rst, cgroup-v2.rst "RDMA": the controller exists when the kernel is
  // built with CONFIG_CGROUP_RDMA (presence only: no RDMA device is needed to list it).
  // Negative control: a kernel built without CONFIG_CGROUP_RDMA skips config:CONFIG_CGROUP_RDMA
  // (this 6.18 host); with no kernel config found it skips setup:no-kernel-config.
  CKC_BEHAVIOUR("rdma.present", "K",
                "a kernel built with the rdma controller lists it in /proc/cgroups (and, on v2, in "
                "cgroup.controllers)");
  CKC_REQUIRE(KnownConfig(), Config("CONFIG_CGROUP_RDMA"));
  ASSERT_OK_AND_ASSIGN(std::string cgroups, ReadFile("/proc/cgroups"));
  EXPECT_NE(cgroups.find("\nrdma\t"), std::string::npos) << "/proc/cgroups lists rdma:\n"
                                                         << cgroups;
  if (Cgroups().mode() == CgroupMode::kV2) {
    ASSERT_OK_AND_ASSIGN(std::string mount, Cgroups().V2Mount());
    ASSERT_OK_AND_ASSIGN(std::string listed, ReadFile(mount + "/cgroup.controllers"));
    EXPECT_NE((" " + listed).find(" rdma"), std::string::npos) << "cgroup.controllers: " << listed;
  }
}

}  // namespace
}  // namespace ckc::test

// The version-independent half of cgroups.h: which hierarchy serves a controller, creating,
// attaching to and removing groups. The knobs are in cgroup_v1.cpp / cgroup_v2.cpp.
#include "cgroups.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <algorithm>
#include <filesystem>
#include <ranges>
#include <sstream>

#include "cgroup_driver.h"
#include "run_scope.h"

namespace ckc {

namespace fs = std::filesystem;

namespace {

// Controllers that exist on v2 without being listed in cgroup.controllers: the freezer is
// cgroup.freeze, devices is a BPF program, perf_event is implicitly on.
bool V2Core(std::string_view c) { return c == "freezer" || c == "devices" || c == "perf_event"; }
// Controllers that v2 does not have at all.
bool V1Only(std::string_view c) { return c == "net_cls" || c == "net_prio"; }

// The build option that compiles a controller in (the v1 interface of memory and cpuset has its
// own since 6.11).
std::string_view ConfigOf(std::string_view c, bool v1) {
  if (c == "memory") return v1 ? "CONFIG_MEMCG_V1" : "CONFIG_MEMCG";
  if (c == "cpuset") return v1 ? "CONFIG_CPUSETS_V1" : "CONFIG_CPUSETS";
  if (c == "cpu") return "CONFIG_CGROUP_SCHED";
  if (c == "cpuacct") return "CONFIG_CGROUP_CPUACCT";
  if (c == "io" || c == "blkio") return "CONFIG_BLK_CGROUP";
  if (c == "pids") return "CONFIG_CGROUP_PIDS";
  if (c == "freezer") return "CONFIG_CGROUP_FREEZER";
  if (c == "devices") return "CONFIG_CGROUP_DEVICE";
  if (c == "net_cls") return "CONFIG_CGROUP_NET_CLASSID";
  if (c == "net_prio") return "CONFIG_CGROUP_NET_PRIO";
  if (c == "hugetlb") return "CONFIG_CGROUP_HUGETLB";
  if (c == "perf_event") return "CONFIG_CGROUP_PERF";
  if (c == "rdma") return "CONFIG_CGROUP_RDMA";
  return "";
}

std::vector<std::string> Words(std::string_view text) {
  std::vector<std::string> out;
  std::istringstream in{std::string(text)};
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

bool Contains(const std::vector<std::string>& v, const std::string& x) {
  return std::ranges::find(v, x) != v.end();
}

std::string Trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

std::string_view CgroupVersionName(CgroupVersion v) {
  return v == CgroupVersion::kV1 ? "v1" : "v2";
}

// --- shared knob helpers --------------------------------------------------------------------

Result<std::string> ReadKnob(const std::string& dir, std::string_view file, std::string_view why) {
  std::string path = fmt::format("{}/{}", dir, file);
  auto text = ReadFile(path);
  if (!text && text.error().err == ENOENT) {
    return Failure("read", path, fmt::format("{}: absent ({})", file, why));
  }
  return text;
}

Status WriteKnob(const std::string& dir, std::string_view file, std::string_view value,
                 std::string_view why) {
  std::string path = fmt::format("{}/{}", dir, file);
  // One write(2), as kernel interface files expect; O_TRUNC (what a shell's `>` does) is
  // ignored by cgroupfs and keeps plain fixture files exact.
  auto st = [&]() -> Status {
    CKC_TRY(fd, OpenFile(path, O_WRONLY | O_TRUNC));
    ssize_t n = ::write(fd.get(), value.data(), value.size());
    if (n < 0) return ErrnoError("write", path);
    if (static_cast<size_t>(n) != value.size()) return Failure("write", path, "short write");
    return {};
  }();
  if (!st && st.error().err == ENOENT) {
    return Failure("write", path, fmt::format("{}: absent ({})", file, why));
  }
  if (!st) st.error().argument = fmt::format("{} <- {}", path, value);
  return st;
}

std::map<std::string, uint64_t> ParseKeyed(std::string_view text) {
  std::map<std::string, uint64_t> out;
  std::istringstream in{std::string(text)};
  for (std::string line; std::getline(in, line);) {
    std::istringstream f(line);
    std::string key;
    uint64_t v = 0;
    if (f >> key >> v) out[key] = v;
  }
  return out;
}

MemoryStat ParseMemoryStat(std::string_view text, const char* anon_key, const char* file_key) {
  MemoryStat s;
  s.raw = ParseKeyed(text);
  s.anon = s.raw[anon_key];
  s.file = s.raw[file_key];
  s.active_anon = s.raw["active_anon"];
  s.inactive_anon = s.raw["inactive_anon"];
  s.active_file = s.raw["active_file"];
  s.inactive_file = s.raw["inactive_file"];
  return s;
}

Result<uint64_t> ParseU64(std::string_view text, std::string_view what) {
  std::string t = Trimmed(std::string(text));
  if (t == "max") return kCgroupUnlimited;
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(t.c_str(), &end, 10);
  if (t.empty() || errno != 0 || *end != '\0') {
    return Failure("parse", what, fmt::format("not a number: `{}`", t));
  }
  return static_cast<uint64_t>(v);
}

// --- CgroupSystem ---------------------------------------------------------------------------

Result<CgroupSystem> CgroupSystem::Current() {
  CKC_TRY(layout, CurrentCgroupLayout());
  return FromLayout(std::move(layout));
}

CgroupSystem CgroupSystem::FromLayout(CgroupLayout layout, std::string root) {
  CgroupSystem sys;
  sys.layout_ = std::move(layout);
  sys.root_ = std::move(root);
  return sys;
}

std::vector<std::string> CgroupSystem::V1Names(std::string_view c) {
  if (c == "io") return {"blkio"};
  if (c == "cpu") return {"cpu", "cpuacct"};
  return {std::string(c)};
}

Result<std::string> CgroupSystem::V2Mount() const {
  const CgroupMountPoint* m = layout_.V2Mount();
  if (!m) return Failure("cgroup2", "/proc/self/mountinfo", "no cgroup2 hierarchy is mounted");
  return Real(m->path);
}

Result<CgroupVersion> CgroupSystem::VersionOf(std::string_view c) const {
  if (layout_.V1Mount(V1Names(c).front())) return CgroupVersion::kV1;
  const CgroupMountPoint* v2 = layout_.V2Mount();
  if (v2 && V2Core(c)) return CgroupVersion::kV2;
  if (v2 && !V1Only(c)) {
    auto listed = ReadFile(Real(v2->path) + "/cgroup.controllers");
    if (listed && Contains(Words(*listed), std::string(c))) return CgroupVersion::kV2;
  }
  std::string why;
  if (V1Only(c) && layout_.mode == CgroupMode::kV2) {
    why = fmt::format("v2 has no {}", c);
  } else {
    bool v1 = layout_.mode != CgroupMode::kV2;
    std::string_view option = ConfigOf(c, v1);
    std::string hint = option.empty() ? "" : fmt::format(" ({} not set?)", option);
    why = fmt::format("{} controller not mounted{}", c, hint);
  }
  return Failure("cgroup", c, why);
}

Result<std::string> CgroupSystem::MountOf(std::string_view c) const {
  CKC_TRY(v, VersionOf(c));
  if (v == CgroupVersion::kV2) return V2Mount();
  return Real(layout_.V1Mount(V1Names(c).front())->path);
}

// --- Cgroup ---------------------------------------------------------------------------------

Cgroup& Cgroup::operator=(Cgroup&& other) noexcept {
  if (this != &other) {
    (void)Remove();
    sys_ = std::move(other.sys_);
    relative_ = std::move(other.relative_);
    controllers_ = std::move(other.controllers_);
    nodes_ = std::move(other.nodes_);
    owned_ = std::exchange(other.owned_, false);
  }
  return *this;
}

Cgroup::~Cgroup() { (void)Remove(); }

Status Cgroup::Remove() {
  if (!owned_) return {};
  owned_ = false;
  std::vector<std::string> dirs = Dirs();
  Status result;
  for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) {
    if (auto st = RemoveCgroupTree(*it); !st && result) result = st;
  }
  return result;
}

std::vector<std::string> Cgroup::Dirs() const {
  std::vector<std::string> out;
  for (const auto& n : nodes_) {
    if (!Contains(out, n.dir)) out.push_back(n.dir);
  }
  return out;
}

bool Cgroup::AllV2() const {
  return !nodes_.empty() && std::ranges::all_of(nodes_, [](const Node& n) {
    return n.driver->version() == CgroupVersion::kV2;
  });
}

Result<const Cgroup::Node*> Cgroup::NodeFor(std::string_view c) const {
  for (const auto& n : nodes_) {
    if (n.controller == c) return &n;
  }
  std::string v1 = CgroupSystem::V1Names(c).front();
  for (const auto& n : nodes_) {
    if (n.controller == v1) return &n;
  }
  // A plain cgroup2 node has the core features (cgroup.freeze, device programs, perf_event).
  for (const auto& n : nodes_) {
    if (n.controller.empty() && V2Core(c)) return &n;
  }
  return Failure("cgroup", relative_, fmt::format("the group was not made with {}", c));
}

Result<CgroupVersion> Cgroup::version(std::string_view c) const {
  CKC_TRY(n, NodeFor(c));
  return n->driver->version();
}

Result<std::string> Cgroup::Dir(std::string_view c) const {
  CKC_TRY(n, NodeFor(c));
  return n->dir;
}

namespace {

// v2: a controller is usable in a group only when every ancestor lists it in
// cgroup.subtree_control. The root of a hybrid host's cgroup2 tree belongs to the host.
Status EnableControllers(const CgroupSystem& sys, const std::string& dir,
                         const std::vector<std::string>& controllers, bool is_root) {
  if (controllers.empty()) return {};
  CKC_TRY(text, ReadKnob(dir, "cgroup.subtree_control"));
  auto enabled = Words(text);
  for (const auto& c : controllers) {
    if (Contains(enabled, c)) continue;
    // The root's subtree_control is the host's (on a pure v2 host, systemd's or the user's):
    // ckc enables below it what it already offers, and never writes it.
    if (is_root) {
      return Failure("write", dir + "/cgroup.subtree_control",
                     fmt::format("{} is not enabled at the cgroup2 root of this {} host (ckc does "
                                 "not change the host's root)",
                                 c, CgroupModeName(sys.mode())));
    }
    CKC_CHECK(WriteKnob(dir, "cgroup.subtree_control", "+" + c));
  }
  return {};
}

// mkdir of every level of `relative` below `mount` (the last must be new); v2 enables
// `v2_enable` on each level before making the next, v1 prepares each new directory.
Status MakePath(const CgroupSystem& sys, const std::string& mount, std::string_view relative,
                const CgroupDriver& driver, const std::vector<std::string>& v1_names,
                const std::vector<std::string>& v2_enable) {
  std::vector<std::string> parts;
  for (auto part : std::views::split(relative, '/')) {
    if (!part.empty()) parts.emplace_back(part.begin(), part.end());
  }
  std::string cur = mount;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (driver.version() == CgroupVersion::kV2) {
      CKC_CHECK(EnableControllers(sys, cur, v2_enable, i == 0));
    }
    cur += "/" + parts[i];
    if (::mkdir(cur.c_str(), 0755) != 0) {
      if (errno == EEXIST && i + 1 < parts.size()) continue;
      return ErrnoError("mkdir", cur);
    }
    for (const auto& name : v1_names) CKC_CHECK(driver.Prepare(cur, name));
  }
  return {};
}

}  // namespace

Result<Cgroup> Cgroup::Make(const CgroupSystem& sys, std::string relative,
                            std::vector<std::string> controllers, bool create) {
  Cgroup cg;
  cg.sys_ = std::make_shared<const CgroupSystem>(sys);
  cg.relative_ = relative;
  cg.controllers_ = controllers;
  std::vector<std::string> v2_enable;
  struct Place {
    std::string mount;
    const CgroupDriver* driver;
    std::vector<std::string> v1_names;
  };
  std::vector<Place> places;
  auto place = [&](const std::string& mount, const CgroupDriver* d) -> Place& {
    for (auto& p : places) {
      if (p.mount == mount) return p;
    }
    return places.emplace_back(Place{mount, d, {}});
  };
  if (controllers.empty()) {
    CKC_TRY(mount, sys.V2Mount());
    cg.nodes_.push_back({"", mount + "/" + relative, &V2Driver()});
    place(mount, &V2Driver());
  }
  for (const auto& c : controllers) {
    CKC_TRY(v, sys.VersionOf(c));
    if (v == CgroupVersion::kV2) {
      CKC_TRY(mount, sys.V2Mount());
      cg.nodes_.push_back({c, mount + "/" + relative, &V2Driver()});
      place(mount, &V2Driver());
      if (!V2Core(c)) v2_enable.push_back(c);
      continue;
    }
    for (const auto& name : CgroupSystem::V1Names(c)) {
      const CgroupMountPoint* m = sys.layout().V1Mount(name);
      if (!m) continue;  // cpuacct may be absent; VersionOf checked the first name
      std::string mount = sys.Real(m->path);
      cg.nodes_.push_back({name, mount + "/" + relative, &V1Driver()});
      place(mount, &V1Driver()).v1_names.push_back(name);
    }
  }
  if (!create) return cg;
  cg.owned_ = true;  // from here a failure removes what was made
  for (const auto& p : places) {
    CKC_CHECK(MakePath(sys, p.mount, relative, *p.driver, p.v1_names, v2_enable));
  }
  return cg;
}

Result<Cgroup> Cgroup::Create(const CgroupSystem& sys, std::string_view name,
                              std::vector<std::string> controllers) {
  const RunScope* run = RunScope::Current();
  if (!run) return Failure("cgroup", name, "no run scope is open (RunScope::Open)");
  return Make(sys, fmt::format("{}/{}", run->name(), name), std::move(controllers), true);
}

Result<Cgroup> Cgroup::Open(const CgroupSystem& sys, std::string_view relative,
                            std::vector<std::string> controllers) {
  return Make(sys, std::string(relative), std::move(controllers), false);
}

Result<Cgroup> Cgroup::CreateChild(std::string_view name) const {
  if (!sys_) return Failure("cgroup", name, "CreateChild on an empty Cgroup");
  return Make(*sys_, fmt::format("{}/{}", relative_, name), controllers_, true);
}

Status Cgroup::Attach(pid_t pid) const {
  for (const auto& dir : Dirs()) CKC_CHECK(WriteKnob(dir, "cgroup.procs", std::to_string(pid)));
  return {};
}

Result<UniqueFd> Cgroup::OpenV2Dir() const {
  for (const auto& n : nodes_) {
    if (n.driver->version() == CgroupVersion::kV2) return OpenFile(n.dir, O_RDONLY | O_DIRECTORY);
  }
  return Failure("open", relative_, "the group has no cgroup2 directory");
}

Result<std::vector<pid_t>> Cgroup::Procs(std::string_view c) const {
  CKC_TRY(text, Read(c, "cgroup.procs"));
  std::vector<pid_t> out;
  for (const auto& w : Words(text)) out.push_back(static_cast<pid_t>(std::stol(w)));
  return out;
}

Result<std::string> Cgroup::Read(std::string_view c, std::string_view file) const {
  CKC_TRY(n, NodeFor(c));
  return ReadKnob(n->dir, file);
}

Status Cgroup::Write(std::string_view c, std::string_view file, std::string_view value) const {
  CKC_TRY(n, NodeFor(c));
  return WriteKnob(n->dir, file, value);
}

bool Cgroup::Has(std::string_view c, std::string_view file) const {
  auto n = NodeFor(c);
  return n && fs::exists(fmt::format("{}/{}", (*n)->dir, file));
}

Result<std::map<std::string, uint64_t>> Cgroup::ReadKeyed(std::string_view c,
                                                          std::string_view file) const {
  CKC_TRY(text, Read(c, file));
  return ParseKeyed(text);
}

// The vocabulary: each call goes to the driver of the directory that serves the controller.
#define CKC_CG_CALL(controller, call)          \
  auto node_ = NodeFor(controller);            \
  if (!node_) return Propagate(node_.error()); \
  return (*node_)->driver->call

Status Cgroup::SetMemoryMax(uint64_t b) const {
  CKC_CG_CALL("memory", SetMemoryMax((*node_)->dir, b));
}
Status Cgroup::SetSwapMax(uint64_t b) const { CKC_CG_CALL("memory", SetSwapMax((*node_)->dir, b)); }
Status Cgroup::SetMemoryHigh(uint64_t b) const {
  CKC_CG_CALL("memory", SetMemoryHigh((*node_)->dir, b));
}
Result<uint64_t> Cgroup::MemoryCurrent() const {
  CKC_CG_CALL("memory", MemoryCurrent((*node_)->dir));
}
Result<MemoryStat> Cgroup::MemoryStats() const {
  CKC_CG_CALL("memory", MemoryStats((*node_)->dir));
}
Result<MemoryEvents> Cgroup::GetMemoryEvents() const {
  CKC_CG_CALL("memory", GetMemoryEvents((*node_)->dir));
}
Result<UniqueFd> Cgroup::OomNotifier(bool disable) const {
  CKC_CG_CALL("memory", OomNotifier((*node_)->dir, disable));
}
Status Cgroup::SetPidsMax(uint64_t n) const { CKC_CG_CALL("pids", SetPidsMax((*node_)->dir, n)); }
Status Cgroup::SetCpuWeight(uint32_t w) const {
  CKC_CG_CALL("cpu", SetCpuWeight((*node_)->dir, w));
}
Status Cgroup::SetCpuMax(uint64_t q, uint64_t p) const {
  CKC_CG_CALL("cpu", SetCpuMax((*node_)->dir, q, p));
}
Status Cgroup::SetCpusetCpus(std::string_view cpus) const {
  return Write("cpuset", "cpuset.cpus", cpus);
}
Status Cgroup::SetCpusetMems(std::string_view mems) const {
  return Write("cpuset", "cpuset.mems", mems);
}
Status Cgroup::SetIoMax(dev_t dev, uint64_t r, uint64_t w) const {
  CKC_CG_CALL("io", SetIoMax((*node_)->dir, dev, r, w));
}
Result<IoStat> Cgroup::GetIoStat(dev_t dev) const {
  CKC_CG_CALL("io", GetIoStat((*node_)->dir, dev));
}
Status Cgroup::Freeze(bool f) const { CKC_CG_CALL("freezer", Freeze((*node_)->dir, f)); }
Result<std::string> Cgroup::FreezerState() const {
  CKC_CG_CALL("freezer", FreezerState((*node_)->dir));
}
#undef CKC_CG_CALL

Result<uint64_t> Cgroup::PidsCurrent() const {
  CKC_TRY(text, Read("pids", "pids.current"));
  return ParseU64(text, "pids.current");
}

// v1 counts usage in cpuacct (a hierarchy of its own or co-mounted with cpu).
Result<CpuStat> Cgroup::CpuStats() const {
  CKC_TRY(cpu, NodeFor("cpu"));
  std::string usage_dir = cpu->dir;
  if (cpu->driver->version() == CgroupVersion::kV1) {
    CKC_TRY(acct, NodeFor("cpuacct"));
    usage_dir = acct->dir;
  }
  return cpu->driver->CpuStats(cpu->dir, usage_dir);
}

Result<std::vector<uint64_t>> Cgroup::CpuUsagePerCpuNs() const {
  CKC_TRY(cpu, NodeFor("cpu"));
  if (cpu->driver->version() == CgroupVersion::kV2) return cpu->driver->CpuUsagePerCpuNs(cpu->dir);
  CKC_TRY(acct, NodeFor("cpuacct"));
  return acct->driver->CpuUsagePerCpuNs(acct->dir);
}

// --- processes ------------------------------------------------------------------------------

Result<Child> SpawnIn(const Cgroup& cg, const std::function<int()>& fn, SpawnOptions options) {
  if (cg.AllV2()) {
    CKC_TRY(dir, cg.OpenV2Dir());
    options.cgroup_fd = dir.get();
    auto child = Spawn(options, fn);
    // Kernels before 5.7 have no CLONE_INTO_CGROUP (E2BIG for the larger clone_args, or EINVAL).
    if (child || (child.error().err != E2BIG && child.error().err != EINVAL &&
                  child.error().err != ENOSYS)) {
      return child;
    }
    options.cgroup_fd = -1;
  }
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return ErrnoError("pipe2");
  UniqueFd rd(fds[0]), wr(fds[1]);
  CKC_TRY(child, Spawn(options, [&] {
            wr.Reset();
            char go = 0;
            if (::read(rd.get(), &go, 1) != 1) return 254;  // the parent could not attach us
            rd.Reset();
            return fn();
          }));
  rd.Reset();
  CKC_CHECK(cg.Attach(child.pid()));
  if (::write(wr.get(), "g", 1) != 1) return ErrnoError("write", "spawn hand-shake");
  return child;
}

Result<std::string> ProcCgroupPath(pid_t pid, std::string_view hierarchy) {
  std::string path = fmt::format("/proc/{}/cgroup", pid);
  CKC_TRY(text, ReadFile(path));
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    auto a = line.find(':');
    auto b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::string ctl = line.substr(a + 1, b - a - 1);
    bool match = hierarchy.empty() && line.starts_with("0::");
    std::istringstream parts(ctl);
    for (std::string p; !hierarchy.empty() && std::getline(parts, p, ',');)
      match = match || p == hierarchy;
    if (match) return line.substr(b + 1);
  }
  return Failure("parse", path, fmt::format("no line for `{}`", hierarchy));
}

}  // namespace ckc

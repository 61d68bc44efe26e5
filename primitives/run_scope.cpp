#include "run_scope.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/swap.h>

#include <fmt/format.h>
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <set>
#include <sstream>
#include <thread>

namespace ckc {

namespace fs = std::filesystem;

namespace {

RunScope* g_current = nullptr;
// Runs whose record this process holds locked (its own, and dead ones while it sweeps them):
// their record files must never be opened here, since closing any descriptor of a file drops
// this process's POSIX locks on it.
std::set<std::string> g_locked;

constexpr uint64_t kSweepLogMax = 1 << 20;  // rotated to sweep.log.old beyond this

std::string NewRunId() {
  uint32_t r = 0;
  if (::getrandom(&r, sizeof r, 0) != sizeof r) r = static_cast<uint32_t>(::getpid()) * 2654435761u;
  return fmt::format("{:08x}", r);
}

std::vector<std::string> Subdirs(const std::string& path) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(path, ec)) {
    if (e.is_directory(ec) && !e.is_symlink(ec)) out.push_back(e.path().filename());
  }
  return out;
}

bool IsRunName(const std::string& name) { return name.starts_with("ckc-") && name.size() > 4; }

std::string Now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

Status LockWhole(int fd, const std::string& path) {
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  if (::fcntl(fd, F_SETLK, &fl) != 0) return ErrnoError("fcntl(F_SETLK)", path);
  return {};
}

// Whether some process holds a POSIX lock on `path` (never asked about this process's own).
bool LockHeld(const std::string& path) {
  auto fd = OpenFile(path, O_RDWR);
  if (!fd) fd = OpenFile(path, O_RDONLY);
  if (!fd) return false;
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  return ::fcntl(fd->get(), F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK;
}

Result<std::string> MadeLockDir() {
  std::string dir = RunLockDir();
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return ErrnoError("mkdir", dir);
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) return ErrnoError("lstat", dir);
  if (!S_ISDIR(st.st_mode) || st.st_uid != ::geteuid() || (st.st_mode & 077) != 0)
    return Failure("run records", dir, "not a directory of this user's alone (mode 0700)");
  return dir;
}

std::string RecordPath(const std::string& id) {
  return fmt::format("{}/{}.lock", RunLockDir(), id);
}
std::string DevicePath(const std::string& id, const std::string& device) {
  return fmt::format("{}/{}.dev.{}", RunLockDir(), id, device);
}

std::string RecordText(const std::string& dir, const std::string& state) {
  return fmt::format("dir {}\npid {}\nstate {}\n", dir, ::getpid(), state);
}

std::map<std::string, std::string> ParseFields(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    auto sp = line.find(' ');
    if (sp != std::string::npos) out[line.substr(0, sp)] = line.substr(sp + 1);
  }
  return out;
}

std::string FieldsText(const std::map<std::string, std::string>& fields) {
  std::string out;
  for (const auto& [k, v] : fields) out += fmt::format("{} {}\n", k, v);
  return out;
}

void AppendSweepLog(const SweepEntry& e) {
  if (!MadeLockDir()) return;
  std::string path = SweepLogPath();
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && static_cast<uint64_t>(st.st_size) > kSweepLogMax)
    ::rename(path.c_str(), (path + ".old").c_str());
  auto fd = OpenFile(path, O_WRONLY | O_APPEND | O_CREAT, 0600);
  if (!fd) return;
  std::string line = FormatSweepEntry(e);
  (void)!::write(fd->get(), line.data(), line.size());  // one write: lines of runs never mix
}

// Mount points at or below `path` in this process's mount namespace.
std::vector<std::string> MountsBelow(const std::string& path) {
  std::vector<std::string> out;
  auto info = ReadFile("/proc/self/mountinfo");
  if (!info) return out;
  std::istringstream in(*info);
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::string id, parent, devno, root, mnt;
    fields >> id >> parent >> devno >> root >> mnt;
    if (mnt == path || mnt.starts_with(path + "/")) out.push_back(mnt);
  }
  return out;
}

std::string DescribeDir(const std::string& dir) {
  size_t entries = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec))
    ++entries;
  size_t mounts = MountsBelow(dir).size();
  return mounts ? fmt::format("{} entries, {} mounts", entries, mounts)
                : fmt::format("{} entries", entries);
}

// --- devices ---------------------------------------------------------------------------------

int DeviceNumber(const std::string& device, std::string_view prefix) {
  return std::atoi(device.c_str() + prefix.size());
}

bool InProcSwaps(const std::string& dev) {
  auto swaps = ReadFile("/proc/swaps");
  if (!swaps) return false;
  std::istringstream in(*swaps);
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with(dev + " ") || line.starts_with(dev + "\t")) return true;
  }
  return false;
}

Status HotRemoveZram(const DeviceRecord& r) {
  // hot_remove is refused (EBUSY) while the device is still open.
  for (int attempt = 0; attempt < 50; ++attempt) {
    auto w = WriteFile("/sys/class/zram-control/hot_remove",
                       std::to_string(DeviceNumber(r.device, "zram")));
    if (w || w.error().err == ENODEV || w.error().err == ENOENT) return {};
    if (w.error().err != EBUSY) return w;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return Failure("hot_remove", "/dev/" + r.device, "still busy after 5 s");
}

std::string Trimmed(std::string s) {
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

// A record made before hot_add names the device hot_add was about to make (the lowest free
// number, with ckc's creations serialised): it is ckc's if it exists and is still unconfigured
// once the creation lock is free (a configuring owner holds it until its disksize is set).
Result<std::string> UndoPendingZram(const DeviceRecord& r) {
  CKC_TRY(lock, LockDeviceCreation("zram"));
  std::string sys = "/sys/block/" + r.device;
  if (!fs::exists(sys)) return std::string();
  std::string size = Trimmed(ReadFile(sys + "/disksize").value_or(""));
  if (size != "0" || InProcSwaps("/dev/" + r.device))
    return fmt::format(
        "{} is configured (disksize {}): not the one a killed hot_add left, left alone", r.device,
        size);
  CKC_CHECK(HotRemoveZram(r));
  return fmt::format("hot_remove {} (made by a run killed right after hot_add, unconfigured)",
                     r.device);
}

Result<std::string> UndoZram(const DeviceRecord& r) {
  if (r.fields.contains("pending")) return UndoPendingZram(r);
  std::string sys = "/sys/block/" + r.device, dev = "/dev/" + r.device;
  struct stat st {};
  if (::stat(sys.c_str(), &st) != 0) return std::string();
  auto want = [&](const std::string& key) {
    auto it = r.fields.find(key);
    return it == r.fields.end() ? std::string() : it->second;
  };
  if (std::string ino = want("ino"); ino.empty() || ino != std::to_string(st.st_ino)) {
    return fmt::format("{} is not the device ckc made (sysfs inode {}, recorded {}): left alone",
                       r.device, st.st_ino, ino.empty() ? "none" : ino);
  }
  std::string size = want("disksize"), now = Trimmed(ReadFile(sys + "/disksize").value_or(""));
  if (!size.empty() && now != size)
    return fmt::format("{} has disksize {}, recorded {}: left alone", r.device, now, size);
  std::string done;
  if (InProcSwaps(dev)) {
    if (::swapoff(dev.c_str()) != 0) return ErrnoError("swapoff", dev);
    done = "swapoff, ";
  }
  CKC_CHECK(HotRemoveZram(r));
  return fmt::format("{}hot_remove {}", done, r.device);
}

std::string CurrentScheduler(const std::string& sys) {
  auto text = ReadFile(sys + "/queue/scheduler");  // "none [mq-deadline] bfq"
  if (!text) return {};
  auto open = text->find('['), close = text->find(']');
  if (open == std::string::npos || close == std::string::npos) return {};
  return text->substr(open + 1, close - open - 1);
}

Result<std::string> UndoLoop(const DeviceRecord& r) {
  std::string sys = "/sys/block/" + r.device, dev = "/dev/" + r.device;
  if (!fs::exists(sys)) return std::string();
  auto field = [&](const std::string& key) {
    auto it = r.fields.find(key);
    return it == r.fields.end() ? std::string() : it->second;
  };
  std::string backing = ReadFile(sys + "/loop/backing_file").value_or("");
  while (!backing.empty() && backing.back() == '\n') backing.pop_back();
  std::string ours = field("backing");
  bool attached = !backing.empty();
  if (attached && backing != ours && backing != ours + " (deleted)") {
    return fmt::format("{} is attached to {} now, not to ckc's {}: left alone", r.device, backing,
                       ours);
  }
  std::vector<std::string> done;
  // The scheduler first, while the device is still ours (once detached anyone may take it).
  if (std::string saved = field("scheduler"); !saved.empty()) {
    std::string now = CurrentScheduler(sys);
    if (!now.empty() && now != saved) {
      CKC_CHECK(WriteFile(sys + "/queue/scheduler", saved));
      done.push_back(fmt::format("restored {} scheduler {} (was {})", r.device, saved, now));
    }
  }
  if (attached) {
    CKC_TRY(fd, OpenFile(dev, O_RDONLY));
    if (::ioctl(fd.get(), LOOP_CLR_FD, 0) != 0 && errno != ENXIO)
      return ErrnoError("ioctl(LOOP_CLR_FD)", dev);
    // Still open elsewhere (a mount): autoclear detaches it when the last opener goes.
    bool gone = !fs::exists(sys + "/loop/backing_file");
    done.push_back(fmt::format("detached {} (backing {}){}", r.device, backing,
                               gone ? "" : ", detach pending: still open"));
  }
  std::string out;
  for (const auto& d : done) out += (out.empty() ? "" : "; ") + d;
  return out;
}

// --- sweeping --------------------------------------------------------------------------------

struct Sweeper {
  SweepReport report;
  std::string by;

  void Log(const std::string& run, const std::string& ended, const std::string& what) {
    SweepEntry e{Now(), by, run, ended, what};
    AppendSweepLog(e);
    report.log.push_back(std::move(e));
  }
  void Failed(const std::string& run, const std::string& ended, const Error& err) {
    report.failures.push_back(err.Message());
    Log(run, ended, "could not remove: " + err.Message());
  }
  // Returns true if every device record (named `prefix`*) went; `note` opens each log line.
  bool Devices(const RunRecord& rec, const std::string& ended, const std::string& prefix = {},
               const std::string& note = {}) {
    bool clean = true;
    for (const auto& d : rec.devices) {
      if (!d.device.starts_with(prefix)) continue;
      auto what = UndoDevice(d);
      if (!what) {
        Failed(rec.id, ended, what.error());
        clean = false;
        continue;
      }
      Log(rec.id, ended,
          note + (what->empty() ? "dropped the record of " + d.device + " (nothing left to undo)"
                                : *what));
      ::unlink(DevicePath(rec.id, d.device).c_str());
      report.removed.push_back("/dev/" + d.device);
    }
    return clean;
  }
  void Run(const RunRecord& rec);
};

void Sweeper::Run(const RunRecord& rec) {
  std::string ended = HowRunEnded(rec);
  size_t logged = report.log.size();
  bool clean = true;
  if (auto layout = CurrentCgroupLayout()) {
    for (const auto& m : layout->mounts) {
      std::string p = fmt::format("{}/ckc-{}", m.path, rec.id);
      struct stat st {};
      // Another user's runs are theirs to sweep.
      if (::lstat(p.c_str(), &st) != 0 || st.st_uid != ::geteuid()) continue;
      std::string facts = InspectCgroupTree(p).Describe();
      if (auto r = RemoveCgroupTree(p); !r) {
        Failed(rec.id, ended, r.error());
        clean = false;
        continue;
      }
      report.removed.push_back(p);
      Log(rec.id, ended, fmt::format("removed cgroup {} ({})", p, facts));
    }
  }
  // Devices after the groups: killing the processes closes what kept a loop device busy.
  clean = Devices(rec, ended) && clean;
  std::vector<std::string> dirs = {fmt::format("{}/ckc-{}", RunStateBase(), rec.id)};
  // A recorded directory is trusted only if it has the run's name.
  if (!rec.dir.empty() && fs::path(rec.dir).filename() == "ckc-" + rec.id && rec.dir != dirs[0])
    dirs.push_back(rec.dir);
  for (const auto& d : dirs) {
    if (!fs::exists(d)) continue;
    std::string facts = DescribeDir(d);
    if (auto r = RemoveTree(d); !r) {
      Failed(rec.id, ended, r.error());
      clean = false;
      continue;
    }
    report.removed.push_back(d);
    Log(rec.id, ended, fmt::format("removed state directory {} ({})", d, facts));
  }
  if (!clean) return;  // the record stays, so the next sweep knows how this run ended
  std::error_code ec;
  bool any = false;
  for (const auto& e : fs::directory_iterator(RunLockDir(), ec)) {
    if (e.path().filename().string().starts_with(rec.id + "."))
      any = fs::remove(e.path(), ec) || any;
  }
  if (any && report.log.size() == logged)
    Log(rec.id, ended, "removed the run record (nothing else was left)");
}

// Claims a dead run for this sweep by locking its record, so a concurrent sweep finds it locked
// and leaves it alone. nullopt: someone holds it (alive, or being swept); an invalid fd: the run
// has no record to claim (an older build's, or a record already gone).
std::optional<UniqueFd> ClaimRecord(const std::string& id) {
  auto fd = OpenFile(RecordPath(id), O_RDWR);
  if (!fd) return UniqueFd();
  if (!LockWhole(fd->get(), RecordPath(id))) return std::nullopt;
  g_locked.insert(id);
  return std::move(*fd);
}

void Unclaim(const std::string& id, UniqueFd claim) {
  if (!claim) return;
  g_locked.erase(id);
  claim.Reset();
}

std::string SelfId() {
  const RunScope* self = RunScope::Current();
  return self ? self->id() : "-";
}

}  // namespace

// --- paths, records --------------------------------------------------------------------------

std::string RunStateBase() {
  const char* tmp = std::getenv("TMPDIR");
  std::string base = (tmp && *tmp) ? tmp : "/tmp";
  return fmt::format("{}/ckc.{}", base, ::geteuid());
}

std::string RunLockDir() {
  uid_t uid = ::geteuid();
  return uid == 0 ? std::string("/run/ckc") : fmt::format("/tmp/ckc-run.{}", uid);
}

std::string SweepLogPath() { return RunLockDir() + "/sweep.log"; }

RunRecord ParseRunRecord(const std::string& id, const std::string& text) {
  auto f = ParseFields(text);
  return RunRecord{id, f["dir"], f["state"], {}};
}

std::string HowRunEnded(const RunRecord& record) {
  return record.state == "ended" ? "normally" : "died";
}

std::vector<RunRecord> RecordedRuns() {
  std::map<std::string, RunRecord> runs;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(RunLockDir(), ec)) {
    std::string name = e.path().filename();
    if (name.starts_with(".") || name.find(".tmp.") != std::string::npos) continue;
    auto dot = name.find('.');
    if (dot == std::string::npos) continue;
    std::string id = name.substr(0, dot), rest = name.substr(dot + 1);
    RunRecord& r = runs[id];
    r.id = id;
    if (rest == "lock" && !g_locked.contains(id)) {
      RunRecord parsed = ParseRunRecord(id, ReadFile(e.path().string()).value_or(""));
      r.dir = parsed.dir;
      r.state = parsed.state;
    } else if (rest.starts_with("dev.")) {
      r.devices.push_back({rest.substr(4), ParseFields(ReadFile(e.path().string()).value_or(""))});
    }
  }
  runs.erase("sweep");  // sweep.log, not a run
  std::vector<RunRecord> out;
  for (auto& [id, r] : runs) out.push_back(std::move(r));
  return out;
}

Status RecordDevice(const DeviceRecord& record) {
  const RunScope* run = RunScope::Current();
  if (!run) return {};
  CKC_CHECK(MadeLockDir());
  return WriteFileAtomic(DevicePath(run->id(), record.device), FieldsText(record.fields), 0600);
}

void ForgetDevice(const std::string& device) {
  if (const RunScope* run = RunScope::Current()) ::unlink(DevicePath(run->id(), device).c_str());
}

Result<UniqueFd> LockDeviceCreation(std::string_view kind) {
  CKC_TRY(dir, MadeLockDir());
  std::string path = fmt::format("{}/.{}-create.lock", dir, kind);
  CKC_TRY(fd, OpenFile(path, O_RDWR | O_CREAT, 0600));
  if (::flock(fd.get(), LOCK_EX) != 0) return ErrnoError("flock", path);
  return fd;
}

Result<std::string> UndoDevice(const DeviceRecord& record) {
  if (record.device.starts_with("zram")) return UndoZram(record);
  if (record.device.starts_with("loop")) return UndoLoop(record);
  return Failure("undo", record.device, "not a device kind ckc records");
}

// --- the sweep log ---------------------------------------------------------------------------

std::string FormatSweepEntry(const SweepEntry& e) {
  auto clean = [](std::string s) {
    std::ranges::replace(s, '\t', ' ');
    std::ranges::replace(s, '\n', ' ');
    return s;
  };
  return fmt::format("{}\t{}\t{}\t{}\t{}\n", clean(e.time), clean(e.by), clean(e.run),
                     clean(e.ended), clean(e.what));
}

std::vector<SweepEntry> ParseSweepLog(const std::string& text) {
  std::vector<SweepEntry> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> f;
    size_t start = 0;
    for (int i = 0; i < 4; ++i) {
      size_t tab = line.find('\t', start);
      if (tab == std::string::npos) break;
      f.push_back(line.substr(start, tab - start));
      start = tab + 1;
    }
    if (f.size() != 4) continue;  // a torn or foreign line
    out.push_back({f[0], f[1], f[2], f[3], line.substr(start)});
  }
  return out;
}

std::string SweepEntry::Describe() const {
  std::string who = by == run ? "at its own close" : "swept by run " + by;
  return fmt::format("run {} ({}), {}: {}", run, ended == "normally" ? "ended normally" : "died",
                     who, what);
}

// --- RunScope --------------------------------------------------------------------------------

Result<std::unique_ptr<RunScope>> RunScope::Start() {
  CKC_TRY(lockdir, MadeLockDir());
  std::string base = RunStateBase();
  if (::mkdir(base.c_str(), 0700) != 0 && errno != EEXIST) return ErrnoError("mkdir", base);
  std::unique_ptr<RunScope> run(new RunScope());
  run->id_ = NewRunId();
  run->dir_ = fmt::format("{}/ckc-{}", base, run->id_);
  // Made under a name no sweep looks at, locked, then linked into place: another run's sweep
  // never sees this run's record without its lock held. The state directory comes after it.
  std::string making = fmt::format("{}/.making-{}.lock", lockdir, run->id_);
  std::string record = RecordPath(run->id_);
  CKC_TRY(lock, OpenFile(making, O_RDWR | O_CREAT | O_EXCL, 0600));
  std::string text = RecordText(run->dir_, "running");
  // A POSIX record lock, not flock(): it belongs to this process alone (see the header).
  Status made = LockWhole(lock.get(), making);
  if (made && ::pwrite(lock.get(), text.data(), text.size(), 0) != ssize_t(text.size()))
    made = ErrnoError("write", making);
  if (made && ::link(making.c_str(), record.c_str()) != 0) made = ErrnoError("link", record);
  ::unlink(making.c_str());
  CKC_CHECK(made);
  if (::mkdir(run->dir_.c_str(), 0700) != 0) {
    auto err = ErrnoError("mkdir", run->dir_);
    ::unlink(record.c_str());
    return err;
  }
  if (auto legacy = OpenFile(run->dir_ + "/lock", O_RDWR | O_CREAT, 0600);
      legacy && LockWhole(legacy->get(), run->dir_ + "/lock")) {
    run->legacy_lock_ = std::move(*legacy);
  }
  run->lock_ = std::move(lock);
  g_locked.insert(run->id_);
  return run;
}

Result<RunScope*> RunScope::Open() {
  if (g_current) return g_current;
  if (const char* joined = std::getenv("CKC_RUN_ID"); joined && *joined) {
    std::unique_ptr<RunScope> run(new RunScope());
    run->id_ = joined;
    // The owner's directory, wherever its $TMPDIR put it.
    auto text = ReadFile(RecordPath(run->id_));
    run->dir_ = text ? ParseRunRecord(run->id_, *text).dir : "";
    if (run->dir_.empty()) run->dir_ = fmt::format("{}/ckc-{}", RunStateBase(), run->id_);
    if (::mkdir(run->dir_.c_str(), 0700) != 0 && errno != EEXIST)
      return ErrnoError("mkdir", run->dir_);
    g_current = run.release();
    return g_current;
  }
  CKC_TRY(run, Start());
  ::setenv("CKC_RUN_ID", run->id_.c_str(), 1);
  g_current = run.release();
  return g_current;
}

RunScope* RunScope::Current() { return g_current; }

RunScope::~RunScope() {
  if (owner()) g_locked.erase(id_);
}

std::string RunScope::CgroupParentPath(const CgroupMountPoint& mount) const {
  return fmt::format("{}/{}", mount.path, name());
}

void RunScope::SetState(const std::string& state) {
  std::string text = RecordText(dir_, state);
  if (::pwrite(lock_.get(), text.data(), text.size(), 0) == static_cast<ssize_t>(text.size()))
    (void)::ftruncate(lock_.get(), static_cast<off_t>(text.size()));
}

void RunScope::Close() {
  if (!owner()) return;
  SetState("closing");
  Sweeper s{{}, id_};
  const std::string kLeft = "left by its tests, removed at close: ";
  bool clean = true;
  if (auto layout = CurrentCgroupLayout()) {
    for (const auto& m : layout->mounts) {
      std::string p = CgroupParentPath(m);
      if (!fs::exists(p)) continue;
      // The parent itself is the run's; a child group or a process in it is a test's leftover.
      CgroupTreeFacts facts = InspectCgroupTree(p);
      if (facts.groups > 1 || !facts.processes.empty())
        s.Log(id_, "normally", fmt::format("{}cgroup {} ({})", kLeft, p, facts.Describe()));
      if (auto r = RemoveCgroupTree(p); !r) {
        s.Failed(id_, "normally", r.error());
        clean = false;
      }
    }
  }
  // A device whose owner released it has no record left.
  for (const auto& r : RecordedRuns()) {
    if (r.id == id_) clean = s.Devices(r, "normally", "", kLeft) && clean;
  }
  if (auto mounts = MountsBelow(dir_); !mounts.empty()) {
    std::string list;
    for (const auto& m : mounts) list += (list.empty() ? "" : ", ") + m;
    s.Log(id_, "normally", fmt::format("{}{} mounts: {}", kLeft, mounts.size(), list));
  }
  legacy_lock_.Reset();
  if (auto r = RemoveTree(dir_); !r) {
    s.Failed(id_, "normally", r.error());
    clean = false;
  }
  if (clean) {
    ::unlink(RecordPath(id_).c_str());
  } else {
    SetState("ended");  // the next sweep removes the rest and says this run had ended
  }
  lock_.Reset();
  g_locked.erase(id_);
}

// --- liveness --------------------------------------------------------------------------------

bool RunIsAlive(const std::string& id) {
  if ((g_current && g_current->id() == id) || g_locked.contains(id)) return true;
  if (LockHeld(RecordPath(id))) return true;
  std::string recorded = ParseRunRecord(id, ReadFile(RecordPath(id)).value_or("")).dir;
  for (const std::string& dir : {fmt::format("{}/ckc-{}", RunStateBase(), id), recorded}) {
    if (!dir.empty() && LockHeld(dir + "/lock")) return true;
  }
  return false;
}

std::optional<std::string> RunIdInPath(const std::string& path) {
  for (const auto& part : fs::path(path)) {
    std::string s = part.string();
    if (s.size() == 12 && s.starts_with("ckc-") &&
        std::all_of(s.begin() + 4, s.end(), [](char c) { return std::isxdigit(c) != 0; }))
      return s.substr(4);
  }
  return std::nullopt;
}

// --- sweeps ----------------------------------------------------------------------------------

SweepReport SweepDeadRuns() {
  Sweeper s{{}, SelfId()};
  std::map<std::string, RunRecord> runs;
  for (auto& r : RecordedRuns()) runs[r.id] = std::move(r);
  auto add = [&](const std::string& name) {
    if (IsRunName(name) && !runs.contains(name.substr(4))) runs[name.substr(4)].id = name.substr(4);
  };
  if (auto layout = CurrentCgroupLayout()) {
    for (const auto& m : layout->mounts) {
      for (const std::string& name : Subdirs(m.path)) add(name);
    }
  }
  std::string base = RunStateBase();
  for (const std::string& name : Subdirs(base)) add(name);
  for (const auto& [id, rec] : runs) {
    if (RunIsAlive(id)) continue;
    auto claim = ClaimRecord(id);
    if (!claim) continue;
    s.Run(rec);
    Unclaim(id, std::move(*claim));
  }
  // A run killed while making its record (Start) leaves .making-<id>.lock, and one of an older
  // build a .making-<id> directory: stale once a minute old (making one takes microseconds).
  for (const std::string& dir : {RunLockDir(), base}) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      struct stat st {};
      if (e.path().filename().string().starts_with(".making-") &&
          ::lstat(e.path().c_str(), &st) == 0 && st.st_mtime + 60 < ::time(nullptr))
        (void)RemoveTree(e.path());
    }
  }
  return s.report;
}

SweepReport SweepDeadRunDevices(const std::string& prefix) {
  Sweeper s{{}, SelfId()};
  for (const auto& rec : RecordedRuns()) {
    if (rec.devices.empty() || RunIsAlive(rec.id)) continue;
    auto claim = ClaimRecord(rec.id);
    if (!claim) continue;
    (void)s.Devices(rec, HowRunEnded(rec), prefix);
    Unclaim(rec.id, std::move(*claim));
  }
  return s.report;
}

// --- cgroup trees ----------------------------------------------------------------------------

CgroupTreeFacts InspectCgroupTree(const std::string& path) {
  CgroupTreeFacts facts;
  auto visit = [&](const std::string& dir) {
    ++facts.groups;
    if (auto state = ReadFile(dir + "/freezer.state"); state && state->starts_with("FROZEN"))
      facts.frozen = true;
    if (auto freeze = ReadFile(dir + "/cgroup.freeze"); freeze && freeze->starts_with("1"))
      facts.frozen = true;
    std::istringstream in(ReadFile(dir + "/cgroup.procs").value_or(""));
    for (pid_t pid; in >> pid;) {
      std::string comm = ReadFile(fmt::format("/proc/{}/comm", pid)).value_or("?\n");
      if (!comm.empty() && comm.back() == '\n') comm.pop_back();
      facts.processes.push_back(comm);
    }
  };
  visit(path);
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(path, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->is_directory(ec) && !it->is_symlink(ec)) visit(it->path());
  }
  std::ranges::sort(facts.processes);
  return facts;
}

std::string CgroupTreeFacts::Describe() const {
  std::string out = fmt::format("{} group{}", groups, groups == 1 ? "" : "s");
  if (!processes.empty()) {
    std::string names;
    for (const auto& p : processes) names += (names.empty() ? "" : " ") + p;
    out += fmt::format(", {} process{} ({})", processes.size(), processes.size() == 1 ? "" : "es",
                       names);
  }
  if (frozen) out += ", frozen";
  return out;
}

Status RemoveCgroupTree(const std::string& path) {
  for (const std::string& sub : Subdirs(path)) CKC_CHECK(RemoveCgroupTree(path + "/" + sub));
  // A v1-frozen task cannot die until thawed; v2's cgroup.kill (5.14) kills atomically.
  if (fs::exists(path + "/freezer.state")) (void)WriteFile(path + "/freezer.state", "THAWED");
  if (fs::exists(path + "/cgroup.kill")) (void)WriteFile(path + "/cgroup.kill", "1");
  for (int attempt = 0; attempt < 200; ++attempt) {
    auto procs = ReadFile(path + "/cgroup.procs");
    if (procs && !procs->empty()) {
      std::istringstream in(*procs);
      for (pid_t pid; in >> pid;) ::kill(pid, SIGKILL);
    }
    if (::rmdir(path.c_str()) == 0 || errno == ENOENT) return {};
    if (errno != EBUSY) return ErrnoError("rmdir", path);
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return ErrnoError("rmdir", path);
}

Status RemoveTree(const std::string& path) {
  // Deepest mounts first; lazily, so a busy one does not stop the rest.
  std::vector<std::string> targets = MountsBelow(path);
  std::ranges::sort(targets, [](const auto& a, const auto& b) { return a.size() > b.size(); });
  for (const auto& t : targets) ::umount2(t.c_str(), MNT_DETACH);
  std::error_code ec;
  fs::remove_all(path, ec);
  // A concurrent sweep of a run without a record to claim may remove entries first.
  if (ec && ec.value() == ENOENT) fs::remove_all(path, ec);
  if (ec) return Failure("remove_all", path, ec.message());
  return {};
}

}  // namespace ckc

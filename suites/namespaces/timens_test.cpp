// Time namespaces: offsets of CLOCK_MONOTONIC and CLOCK_BOOTTIME that only the children of the
// unsharing process see, and that freeze once a process is in the namespace.
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include <fmt/format.h>
#include <string>

#include "namespaces.h"
#include "ns_requirements.h"
#include "ns_support.h"
#include "timens.h"

namespace ckc::test {
namespace {

using std::chrono::seconds;

// Distinct offsets, so a clock shifted by the other one's offset is caught.
constexpr int64_t kMonotonicOffset = 12345;
constexpr int64_t kBoottimeOffset = 23456;
constexpr int64_t kNs = 1'000'000'000;

Sandbox TimeBox() { return Sandbox().UserNsUnlessRoot(); }

std::string ErrOf(const Status& st) { return st ? "ok" : st.error().Message(); }

std::string Ns(Result<int64_t> v) { return v ? fmt::format("{}", *v) : v.error().Message(); }

std::string TimeNsOf(const char* link) {
  auto id = NsIdOfPath(fmt::format("/proc/self/ns/{}", link));
  return id ? NsIdString(*id) : id.error().Message();
}

// The clocks as the calling process sees them, under `prefix`.
void PutClocks(Channel& ch, const std::string& prefix) {
  Put(ch, prefix + "-mono", Ns(ClockNs(CLOCK_MONOTONIC)));
  Put(ch, prefix + "-boot", Ns(ClockNs(CLOCK_BOOTTIME)));
  Put(ch, prefix + "-real", Ns(ClockNs(CLOCK_REALTIME)));
  auto up = UptimeSeconds();
  Put(ch, prefix + "-uptime", up ? fmt::format("{:.2f}", *up) : up.error().Message());
}

// unshare(CLONE_NEWTIME), set the offsets, then sample the clocks around a child's sample.
int UnshareAndCompare(Channel& ch) {
  Put(ch, "own-before", TimeNsOf("time"));
  Put(ch, "unshare", ErrOf(UnshareTime()));
  auto written = WriteTimensOffsets(
      ::getpid(), {{CLOCK_MONOTONIC, kMonotonicOffset}, {CLOCK_BOOTTIME, kBoottimeOffset}});
  Put(ch, "write", written ? "ok" : written.error().Message());
  Put(ch, "own-after", TimeNsOf("time"));
  Put(ch, "for-children", TimeNsOf("time_for_children"));
  PutClocks(ch, "caller-before");
  auto child = Spawn({}, [&ch] {
    Put(ch, "child-ns", TimeNsOf("time"));
    PutClocks(ch, "child");
    return 0;
  });
  if (!child) return Report(ch, "setup: " + child.error().Message());
  auto st = child->Wait(seconds(10));
  PutClocks(ch, "caller-after");
  return st && st->Exited(0) ? 0 : 1;
}

int64_t Int(const ChildResult& r, const std::string& key) {
  try {
    return std::stoll(Value(r, key));
  } catch (...) {
    return -1;
  }
}

double Real(const ChildResult& r, const std::string& key) {
  try {
    return std::stod(Value(r, key));
  } catch (...) {
    return -1;
  }
}

// `clock` of the child lies between the caller's samples before and after it, shifted by
// `offset` seconds.
void ExpectShift(const ChildResult& r, const std::string& clock, int64_t offset) {
  int64_t before = Int(r, "caller-before-" + clock) + offset * kNs;
  int64_t after = Int(r, "caller-after-" + clock) + offset * kNs;
  int64_t child = Int(r, "child-" + clock);
  EXPECT_TRUE(before <= child && child <= after)
      << clock << ": expected the child's clock within [" << before << ", " << after
      << "] (the caller's samples + " << offset << " s), saw " << child << " ("
      << (child - Int(r, "caller-before-" + clock)) / kNs << " s after the caller's)";
}

// Source: time_namespaces(7) (unshare(CLONE_NEWTIME) "does not place the calling process in the
// new namespace ... the calling process's subsequently created children are placed" there; the
// offsets shift CLOCK_MONOTONIC, CLOCK_BOOTTIME and /proc/uptime; CLOCK_REALTIME is not
// virtualized).
// Negative control: a kernel without CONFIG_TIME_NS has no /proc/self/ns/time and skips
// kernel:time-namespace; an offset that does not reach the child fails the row.
TEST(TimeNamespace, Offsets) {
  CKC_BEHAVIOUR("time.offsets", "K",
                "unshare(CLONE_NEWTIME) leaves the caller where it was and places its later "
                "children in the new time namespace, where offsets written beforehand move "
                "CLOCK_MONOTONIC, CLOCK_BOOTTIME and /proc/uptime while CLOCK_REALTIME stays",
                "5.6");
  CKC_REQUIRE(RootOrUserns(), NamespaceType(NsType::kTime), NamespaceQuota(CLONE_NEWTIME));
  ASSERT_OK_AND_ASSIGN(int64_t test_before, ClockNs(CLOCK_MONOTONIC));
  ASSERT_OK_AND_ASSIGN(ChildResult r, RunInSandbox(TimeBox(), UnshareAndCompare));
  ASSERT_OK_AND_ASSIGN(int64_t test_after, ClockNs(CLOCK_MONOTONIC));
  EXPECT_TRUE(r.status.Exited(0)) << r.Describe();
  ASSERT_EQ(Value(r, "unshare"), "ok") << r.Describe();
  ASSERT_EQ(Value(r, "write"), "ok") << r.Describe();
  EXPECT_EQ(Value(r, "own-after"), Value(r, "own-before")) << "the caller changed time namespace";
  EXPECT_NE(Value(r, "for-children"), Value(r, "own-after")) << "no new time_for_children";
  EXPECT_EQ(Value(r, "child-ns"), Value(r, "for-children")) << "the child's time namespace";
  int64_t caller = Int(r, "caller-before-mono");
  EXPECT_TRUE(test_before <= caller && caller <= test_after)
      << "the caller's own CLOCK_MONOTONIC moved: " << caller << " outside [" << test_before << ", "
      << test_after << "]";
  ExpectShift(r, "mono", kMonotonicOffset);
  ExpectShift(r, "boot", kBoottimeOffset);
  ExpectShift(r, "real", 0);
  // /proc/uptime has a resolution of 10 ms.
  double up = Real(r, "child-uptime") - Real(r, "caller-before-uptime");
  double spread = Real(r, "caller-after-uptime") - Real(r, "caller-before-uptime");
  EXPECT_TRUE(up >= kBoottimeOffset - 0.02 && up <= kBoottimeOffset + spread + 0.02)
      << "/proc/uptime in the child is " << up << " s ahead of the caller's, expected "
      << kBoottimeOffset;
}

// unshare(CLONE_NEWTIME), write the offsets twice, start a member, then try again.
int WriteBeforeAndAfterMember(Channel& ch) {
  CKC_CHILD_CHECK(UnshareTime());
  auto first = WriteTimensOffsets(::getpid(), {{CLOCK_MONOTONIC, 100}});
  Put(ch, "write-first", first ? "ok" : ErrnoName(first.error().err));
  auto second = WriteTimensOffsets(::getpid(), {{CLOCK_MONOTONIC, 200}, {CLOCK_BOOTTIME, 300}});
  Put(ch, "write-again", second ? "ok" : ErrnoName(second.error().err));
  CKC_CHILD_TRY(inner, Channel::Create());
  auto member = Spawn({}, [&inner] {
    inner.BecomeChild();
    return inner.Send("in") && inner.Expect("exit", seconds(10)) ? 0 : 1;
  });
  if (!member) return Report(ch, "setup: " + member.error().Message());
  inner.BecomeParent();
  CKC_CHILD_CHECK(inner.Expect("in", seconds(10)));
  auto frozen = WriteTimensOffsets(::getpid(), {{CLOCK_MONOTONIC, 400}});
  Put(ch, "write-with-member", frozen ? "ok" : ErrnoName(frozen.error().err));
  (void)inner.Send("exit");
  auto st = member->Wait(seconds(10));
  auto after = WriteTimensOffsets(::getpid(), {{CLOCK_MONOTONIC, 500}});
  Put(ch, "write-after-exit", after ? "ok" : ErrnoName(after.error().err));
  CKC_CHILD_TRY(offsets, ReadTimensOffsets(::getpid()));
  Put(ch, "offsets", FormatTimensOffsets(offsets));
  return st && st->Exited(0) ? 0 : 1;
}

// Source: time_namespaces(7) ("The file can be written to multiple times, but after the first
// process has been created in or has entered the namespace, write(2)s on this file fail with
// the error EACCES").
// Negative control: a kernel without CONFIG_TIME_NS skips kernel:time-namespace; a write that
// still lands once a process is inside fails the row (and shows in the offsets read back).
TEST(TimeNamespace, OffsetsFrozen) {
  CKC_BEHAVIOUR("time.offsets-frozen", "K",
                "timens_offsets can be rewritten while the new time namespace is empty, but "
                "writes fail with EACCES as soon as a process has been placed in it, also after "
                "that process is gone");
  CKC_REQUIRE(RootOrUserns(), NamespaceType(NsType::kTime), NamespaceQuota(CLONE_NEWTIME));
  ASSERT_OK_AND_ASSIGN(ChildResult r, RunInSandbox(TimeBox(), WriteBeforeAndAfterMember));
  EXPECT_TRUE(r.status.Exited(0)) << r.Describe();
  EXPECT_EQ(Value(r, "write-first"), "ok") << r.Describe();
  EXPECT_EQ(Value(r, "write-again"), "ok") << "a second write before any member";
  EXPECT_EQ(Value(r, "write-with-member"), "EACCES") << "a write with a process inside";
  EXPECT_EQ(Value(r, "write-after-exit"), "EACCES") << "a write after that process exited";
  EXPECT_EQ(Value(r, "offsets"),
            FormatTimensOffsets({{CLOCK_MONOTONIC, 200}, {CLOCK_BOOTTIME, 300}}))
      << "the offsets must be those of the last write before the first member";
}

}  // namespace
}  // namespace ckc::test

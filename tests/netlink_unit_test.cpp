// Self-tests of the netlink layer (ctest label `unit`): error mapping, polling, and read-only
// use of a netlink socket in the caller's own namespace. They check ckc, not the kernel.
#include <netlink/errno.h>

#include <chrono>

#include "ckc_test.h"
#include "netlink.h"

namespace ckc::test {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;

TEST(NlError, CarriesErrnoEquivalentObjectAndLibnlText) {
  Error e = NlError(-NLE_NODEV, "rtnl_link_get_kernel", "eth9");
  EXPECT_EQ(e.err, ENODEV);
  EXPECT_THAT(e.Message(), HasSubstr("rtnl_link_get_kernel(`eth9`): ENODEV"));
  EXPECT_THAT(e.detail, HasSubstr("(nl error 31)"));
}

TEST(NlError, CodesWithoutAnErrnoKeepTheirText) {
  Error e = NlError(-NLE_MSG_TRUNC, "nl_recv", "");
  EXPECT_EQ(e.err, 0);
  EXPECT_THAT(e.Message(), HasSubstr("nl error 18"));
}

TEST(PollUntil, ReturnsTrueOnceTheProbeHolds) {
  int calls = 0;
  auto done = PollUntil([&]() -> Result<bool> { return ++calls == 3; }, std::chrono::seconds(5),
                        std::chrono::milliseconds(1));
  ASSERT_TRUE(done.has_value());
  EXPECT_TRUE(*done);
  EXPECT_EQ(calls, 3);
}

TEST(PollUntil, GivesUpAtTheDeadlineWithTheLastError) {
  auto never = PollUntil([]() -> Result<bool> { return false; }, std::chrono::milliseconds(30));
  ASSERT_TRUE(never.has_value());
  EXPECT_FALSE(*never);
  auto failing = PollUntil([]() -> Result<bool> { return Failure("probe", "x", "broken"); },
                           std::chrono::milliseconds(30));
  ASSERT_FALSE(failing.has_value());
  EXPECT_EQ(failing.error().operation, "probe");
}

TEST(NetlinkSocket, ListsTheCallersLoopbackReadOnly) {
  // RTM_GETLINK dumps need no privilege; nothing is changed.
  ASSERT_OK_AND_ASSIGN(NetlinkSocket nl, NetlinkSocket::Open());
  ASSERT_OK_AND_ASSIGN(std::vector<LinkInfo> links, nl.Links());
  bool lo = false;
  for (const auto& l : links) lo = lo || (l.name == "lo" && l.loopback());
  EXPECT_TRUE(lo) << "no loopback link listed";
  EXPECT_THAT(nl.FindLink("ckc-nolink"), IsOk());
  EXPECT_THAT(nl.SetUp("ckc-nolink"), FailsWith(ENODEV));
}

}  // namespace
}  // namespace ckc::test

// Self-tests of the overlay, capability and seccomp primitives that need no privileges: the
// overlay option string, the upper-entry classifier on plain files, libcap and libseccomp
// plumbing. The kernel behaviour itself is checked by the filesystems and security suites.
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "capabilities.h"
#include "ckc_test.h"
#include "mounts.h"
#include "overlay.h"
#include "seccomp_filter.h"

namespace ckc {
namespace {

TEST(OverlayUnit, MountDataListsLowersTopFirstThenOptions) {
  OverlaySpec spec{.lowers = {"/l0", "/l1"},
                   .upper = "/u",
                   .work = "/w",
                   .options = {{"redirect_dir", "on"}, {"userxattr", ""}}};
  EXPECT_EQ(OverlayMountData(spec),
            "lowerdir=/l0:/l1,upperdir=/u,workdir=/w,redirect_dir=on,userxattr");
}

TEST(OverlayUnit, ReadOnlySpecHasNoUpperOrWork) {
  OverlaySpec spec{.lowers = {"/a", "/b"}, .upper = "", .work = ""};
  EXPECT_EQ(OverlayMountData(spec), "lowerdir=/a:/b");
}

TEST(OverlayUnit, ClassifiesPlainEntries) {
  std::string dir = test::TestDir() + "/classify";
  ASSERT_TRUE(MakeDirs(dir + "/sub").has_value());
  auto fd = OpenFile(dir + "/file", O_CREAT | O_WRONLY, 0644);
  ASSERT_TRUE(fd.has_value());
  EXPECT_EQ(ClassifyUpperEntry(dir + "/file")->Describe(), "regular file");
  EXPECT_EQ(ClassifyUpperEntry(dir + "/sub")->Describe(), "directory");
  EXPECT_EQ(ClassifyUpperEntry(dir + "/none")->kind, UpperKind::kMissing);
}

TEST(OverlayUnit, DescribesWhiteouts) {
  UpperEntry e{.kind = UpperKind::kWhiteout};
  EXPECT_EQ(e.Describe(), "whiteout (char 0/0)");
  e.whiteout_is_xattr = true;
  EXPECT_EQ(e.Describe(), "whiteout (xattr)");
  UpperEntry d{.kind = UpperKind::kDirectory, .opaque = true, .redirect = "/a"};
  EXPECT_EQ(d.Describe(), "directory opaque redirect=/a");
}

TEST(CapabilitiesUnit, NamesAndExactSetInChild) {
  EXPECT_EQ(CapabilityName(CAP_NET_BIND_SERVICE), "cap_net_bind_service");
  // An empty set can always be taken, privileged or not.
  auto st = RunWithCapabilities({}, [] { return ProcessCapabilities() == "=" ? 0 : 1; });
  ASSERT_TRUE(st.has_value()) << st.error().Message();
  EXPECT_TRUE(st->Exited(0)) << st->Describe();
}

TEST(SeccompUnit, RuleErrorsNameTheSyscall) {
  auto f = SeccompFilter::Create(SCMP_ACT_ALLOW);
  ASSERT_TRUE(f.has_value());
  // libseccomp refuses a rule whose action is the default action.
  auto st = f->Add(SCMP_ACT_ALLOW, SCMP_SYS(uname));
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().operation, "seccomp_rule_add");
  EXPECT_EQ(st.error().argument, "uname");
}

}  // namespace
}  // namespace ckc

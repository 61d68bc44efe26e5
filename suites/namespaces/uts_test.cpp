// UTS namespaces: hostname and NIS domain name per namespace.
#include <sched.h>
#include <unistd.h>

#include <fmt/format.h>

#include "ns_support.h"
#include "userns.h"

namespace ckc::test {
namespace {

// A child in a new uts namespace (and a user namespace when not root) that reports
// "before-<field>" and, after `set` ran, "after-<field>"/"set", then waits for "go" so the parent
// looks at its own names while the child's namespace lives.
struct UtsProbe {
  std::string before, after, set_result;
};

Result<UtsProbe> ChangeInNewUts(int (*set)(const char*, size_t), std::string (*get)(),
                                const std::string& name) {
  CKC_TRY(box, Sandbox().UserNsUnlessRoot().Namespaces(CLONE_NEWUTS).Run([&](Channel& ch) {
    Put(ch, "before", get());
    PutCall(ch, "set", set(name.c_str(), name.size()));
    Put(ch, "after", get());
    return ch.Expect("go") ? 0 : 1;
  }));
  UtsProbe p;
  for (std::string* field : {&p.before, &p.set_result, &p.after}) {
    CKC_TRY(msg, box.channel.Recv(std::chrono::seconds(10)));
    *field = msg.substr(msg.find('=') + 1);
  }
  CKC_CHECK(box.channel.Send("go"));
  CKC_TRY(st, box.child.Wait(std::chrono::seconds(10)));
  if (!st.Exited(0)) return Failure("uts child", "", st.Describe());
  return p;
}

int SetHostname(const char* name, size_t len) { return ::sethostname(name, len); }
int SetDomainname(const char* name, size_t len) { return ::setdomainname(name, len); }

// Source: D "Demonstrating our uts namespace" (hostname tupperware in the container, unchanged
// on the host); F (the Rust uts-namespace example); uts_namespaces(7).
TEST(UtsNamespace, HostnameIsolated) {
  CKC_BEHAVIOUR("uts.hostname-isolated", "D",
                "a hostname set with sethostname() inside a new uts namespace is what uname() "
                "reports there, while the parent keeps its own nodename");
  CKC_REQUIRE(RootOrUserns(), NamespaceType(NsType::kUts), NamespaceQuota(CLONE_NEWUTS));
  std::string host = Nodename();
  CKC_ASSERT_SETUP(host != "tupperware") << "the host not already called tupperware; it is";
  ASSERT_OK_AND_ASSIGN(UtsProbe p, ChangeInNewUts(SetHostname, Nodename, "tupperware"));
  EXPECT_EQ(p.set_result, "ok") << "sethostname in the new uts namespace";
  EXPECT_EQ(p.after, "tupperware") << "expected uname().nodename inside to be the new name";
  EXPECT_EQ(Nodename(), host) << "expected the parent's hostname unchanged while the child's "
                                 "namespace lived";
}

// Source: D "UTS namespace" (also allows to set the NIS domain); setdomainname(2).
TEST(UtsNamespace, DomainnameIsolated) {
  CKC_BEHAVIOUR("uts.domainname-isolated", "D",
                "a NIS domain name set with setdomainname() inside a new uts namespace shows in "
                "uname() there and leaves the parent's domain name alone");
  CKC_REQUIRE(RootOrUserns(), NamespaceType(NsType::kUts), NamespaceQuota(CLONE_NEWUTS));
  std::string host = Domainname();
  std::string name = fmt::format("ckc-nis-{}", ::getpid());
  ASSERT_OK_AND_ASSIGN(UtsProbe p, ChangeInNewUts(SetDomainname, Domainname, name));
  EXPECT_EQ(p.set_result, "ok") << "setdomainname in the new uts namespace";
  EXPECT_EQ(p.after, name) << "expected uname().domainname inside to be the new name";
  EXPECT_EQ(Domainname(), host) << "expected the parent's NIS domain name unchanged";
}

// Source: clone(2) CLONE_NEWUTS ("the new namespace is initialized with a copy of the
// identifiers from the UTS namespace of the calling process"); D "Demonstrating our uts
// namespace" (hostname first shows the host's name).
TEST(UtsNamespace, CloneInheritsName) {
  CKC_BEHAVIOUR("uts.clone-inherits-name", "D",
                "a freshly created uts namespace begins with the hostname and NIS domain name "
                "copied from its creator's namespace");
  CKC_REQUIRE(RootOrUserns(), NamespaceType(NsType::kUts), NamespaceQuota(CLONE_NEWUTS));
  ASSERT_OK_AND_ASSIGN(
      ChildResult r,
      RunInSandbox(Sandbox().UserNsUnlessRoot().Namespaces(CLONE_NEWUTS), [](Channel& ch) {
        Put(ch, "nodename", Nodename());
        Put(ch, "domainname", Domainname());
        Put(ch, "uts", NsIdString(*NsIdOf(::getpid(), NsType::kUts)));
        return 0;
      }));
  ASSERT_TRUE(r.status.Exited(0)) << r.Describe();
  ASSERT_OK_AND_ASSIGN(NsId mine, NsIdOf(::getpid(), NsType::kUts));
  CKC_ASSERT_SETUP(Value(r, "uts") != NsIdString(mine))
      << "the child in a new uts namespace; it is in the parent's, " << Value(r, "uts");
  EXPECT_EQ(Value(r, "nodename"), Nodename()) << "expected a copy of the parent's hostname";
  EXPECT_EQ(Value(r, "domainname"), Domainname()) << "expected a copy of the parent's NIS domain";
}

// As root: a process in its own uts namespace gives up its capabilities (setresuid to nobody).
// Unprivileged: root of a user namespace owning the uts namespace moves into a nested user
// namespace, where it has every capability, but none over the uts namespace's owner.
int SethostnameWithoutCap(Channel& ch) {
  PutCall(ch, "with-cap", ::sethostname("ckc-cap", 7));
  if (::geteuid() == 0 && NsIdOf(::getpid(), NsType::kUser)->ino == InitialNsInode(NsType::kUser)) {
    if (auto st = BecomeUser(65534, 65534); !st)
      return Report(ch, "setup: " + st.error().Message());
  } else if (::unshare(CLONE_NEWUSER) != 0) {
    return ReportErrno(ch, "setup: unshare(CLONE_NEWUSER)");
  }
  PutCall(ch, "without-cap", ::sethostname("ckc-nocap", 9));
  return Put(ch, "nodename", Nodename());
}

// Source: D "Creating our first namespace" (we have to use sudo); uts_namespaces(7) and
// sethostname(2) EPERM ("the caller did not have the
// CAP_SYS_ADMIN capability in the user namespace associated with its UTS namespace").
TEST(UtsNamespace, NeedsCap) {
  CKC_BEHAVIOUR("uts.needs-cap", "D",
                "a process lacking CAP_SYS_ADMIN in the user namespace that owns its uts namespace "
                "gets EPERM from sethostname(), and the name stays as it was");
  CKC_REQUIRE(RootOrUserns(), NamespaceType(NsType::kUts), NamespaceType(NsType::kUser),
              NamespaceQuota(CLONE_NEWUTS));
  ASSERT_OK_AND_ASSIGN(
      ChildResult r,
      RunInSandbox(Sandbox().UserNsUnlessRoot().Namespaces(CLONE_NEWUTS), SethostnameWithoutCap));
  CKC_ASSERT_SETUP(Value(r, "with-cap") == "ok")
      << "sethostname with the capability, before dropping it; " << r.Describe();
  EXPECT_EQ(Value(r, "without-cap"), "EPERM") << r.Describe();
  EXPECT_EQ(Value(r, "nodename"), "ckc-cap") << "the name must not change without the capability";
}

}  // namespace
}  // namespace ckc::test

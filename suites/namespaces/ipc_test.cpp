// IPC namespaces: System V objects and POSIX message queues belong to one ipc namespace. Every
// object is created inside a sandbox's own ipc namespace and goes away with it; the host's ipc
// namespace is only looked at.
#include <fcntl.h>
#include <mqueue.h>
#include <sched.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <unistd.h>

#include <fmt/format.h>
#include <filesystem>
#include <functional>

#include "mounts.h"
#include "ns_support.h"

namespace ckc::test {
namespace {

namespace fs = std::filesystem;

// How to create an object, find it again by name/key, and address it by id (for System V;
// by_id is empty for POSIX queues, which have no ids).
struct IpcKind {
  std::function<long()> create;     // id (or 0), or -1 with errno
  std::function<long()> lookup;     // >= 0 if the name/key is known in the caller's namespace
  std::function<long(long)> by_id;  // IPC_STAT on an id
  std::function<bool()> in_fs;      // POSIX: the queue's file shows in the caller's mqueue fs
};

key_t TestKey() { return static_cast<key_t>(0x636b0000 | (::getpid() & 0xffff)); }

// The owner (a new ipc namespace) creates the object and waits; a prober in another new ipc
// namespace, and the parent in its own, must not find it.
void ExpectIsolated(const IpcKind& kind, const Sandbox& owner_box, const Sandbox& prober_box,
                    const std::string& what) {
  errno = 0;
  long host_lookup = kind.lookup();
  CKC_ASSERT_SETUP(host_lookup < 0)
      << "no " << what << " under ckc's name in the test's own namespace yet; lookup gave "
      << host_lookup;
  ASSERT_OK_AND_ASSIGN(Sandboxed owner, owner_box.Run([&](Channel& ch) {
    long id = kind.create();
    PutCall(ch, "create", id);
    Put(ch, "id", fmt::format("{}", id));
    PutCall(ch, "lookup-own", kind.lookup());
    Put(ch, "in-own-fs", kind.in_fs ? YesNo(kind.in_fs()) : "n/a");
    return ch.Expect("go") ? 0 : 1;
  }));
  ChildResult own;
  for (int i = 0; i < 4; ++i) {
    ASSERT_OK_AND_ASSIGN(std::string msg, owner.channel.Recv(std::chrono::seconds(10)));
    own.reports.push_back(msg);
  }
  CKC_ASSERT_SETUP(Value(own, "create") == "ok")
      << "creating the " << what << " in the owner's namespace; " << own.Describe();
  CKC_ASSERT_SETUP(Value(own, "lookup-own") == "ok")
      << "the owner finds its own " << what << "; saw " << Value(own, "lookup-own");
  long id = std::stol(Value(own, "id"));
  ASSERT_OK_AND_ASSIGN(ChildResult other, RunInSandbox(prober_box, [&](Channel& ch) {
                         PutCall(ch, "lookup", kind.lookup());
                         if (kind.by_id) PutCall(ch, "by-id", kind.by_id(id));
                         if (kind.in_fs) Put(ch, "in-fs", YesNo(kind.in_fs()));
                         return 0;
                       }));
  EXPECT_TRUE(other.status.Exited(0)) << other.Describe();
  EXPECT_EQ(Value(other, "lookup"), "ENOENT")
      << "looking up the " << what << " from another ipc namespace";
  if (kind.by_id) {
    EXPECT_EQ(Value(other, "by-id"), "EINVAL")
        << "IPC_STAT on the " << what << "'s id " << id << " from another (fresh) ipc namespace";
  }
  if (kind.in_fs) {
    EXPECT_EQ(Value(own, "in-own-fs"), "yes") << "the owner's mqueue fs must list its queue";
    EXPECT_EQ(Value(other, "in-fs"), "no") << "the other namespace's mqueue fs lists the queue";
  }
  errno = 0;
  long host = kind.lookup();
  EXPECT_LT(host, 0) << "the parent's ipc namespace finds the " << what;
  EXPECT_EQ(errno, ENOENT) << "looking up the " << what << " from the parent: " << ErrnoName(errno);
  ASSERT_OK(owner.channel.Send("go"));
  ASSERT_OK_AND_ASSIGN(ExitStatus st, owner.child.Wait(std::chrono::seconds(10)));
  EXPECT_TRUE(st.Exited(0)) << st.Describe();
}

Sandbox IpcBox() { return Sandbox().UserNsUnlessRoot().Namespaces(CLONE_NEWIPC); }

// Source: D "IPC namespace" (own IPC shared memory, without risk of conflict with other
// instances); ipc_namespaces(7).
TEST(IpcNamespace, SysvShmIsolated) {
  CKC_BEHAVIOUR("ipc.sysv-shm-isolated", "D",
                "a System V shared memory segment made in one ipc namespace cannot be found by key "
                "or by id from any other ipc namespace");
  CKC_REQUIRE(RootOrUserns(), NamespaceType(NsType::kIpc), Config("CONFIG_SYSVIPC"),
              NamespaceQuota(CLONE_NEWIPC));
  key_t key = TestKey();
  IpcKind shm{
      .create =
          [key] { return static_cast<long>(::shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0600)); },
      .lookup = [key] { return static_cast<long>(::shmget(key, 0, 0)); },
      .by_id =
          [](long id) {
            struct shmid_ds ds {};
            return static_cast<long>(::shmctl(static_cast<int>(id), IPC_STAT, &ds));
          },
      .in_fs = {}};
  ExpectIsolated(shm, IpcBox(), IpcBox(), "shared memory segment");
}

// Source: D "IPC namespace" (own IPC semaphores); ipc_namespaces(7).
TEST(IpcNamespace, SysvSemIsolated) {
  CKC_BEHAVIOUR("ipc.sysv-sem-isolated", "D",
                "a System V semaphore set made in one ipc namespace cannot be found by key or by "
                "id from any other ipc namespace");
  CKC_REQUIRE(RootOrUserns(), NamespaceType(NsType::kIpc), Config("CONFIG_SYSVIPC"),
              NamespaceQuota(CLONE_NEWIPC));
  key_t key = TestKey();
  IpcKind sem{
      .create = [key] { return static_cast<long>(::semget(key, 1, IPC_CREAT | IPC_EXCL | 0600)); },
      .lookup = [key] { return static_cast<long>(::semget(key, 0, 0)); },
      .by_id =
          [](long id) {
            struct semid_ds ds {};
            return static_cast<long>(::semctl(static_cast<int>(id), 0, IPC_STAT, &ds));
          },
      .in_fs = {}};
  ExpectIsolated(sem, IpcBox(), IpcBox(), "semaphore set");
}

// Source: D "IPC namespace" (own IPC message queues); ipc_namespaces(7).
TEST(IpcNamespace, SysvMsgIsolated) {
  CKC_BEHAVIOUR("ipc.sysv-msg-isolated", "D",
                "a System V message queue made in one ipc namespace cannot be found by key or by "
                "id from any other ipc namespace");
  CKC_REQUIRE(RootOrUserns(), NamespaceType(NsType::kIpc), Config("CONFIG_SYSVIPC"),
              NamespaceQuota(CLONE_NEWIPC));
  key_t key = TestKey();
  IpcKind msg{
      .create = [key] { return static_cast<long>(::msgget(key, IPC_CREAT | IPC_EXCL | 0600)); },
      .lookup = [key] { return static_cast<long>(::msgget(key, 0)); },
      .by_id =
          [](long id) {
            struct msqid_ds ds {};
            return static_cast<long>(::msgctl(static_cast<int>(id), IPC_STAT, &ds));
          },
      .in_fs = {}};
  ExpectIsolated(msg, IpcBox(), IpcBox(), "message queue");
}

// Source: ipc_namespaces(7) and mq_overview(7) (POSIX message queues live in the mqueue file
// system of the ipc namespace); D "IPC namespace".
TEST(IpcNamespace, PosixMqIsolated) {
  CKC_BEHAVIOUR("ipc.posix-mq-isolated", "D",
                "a POSIX message queue belongs to one ipc namespace: other namespaces cannot open "
                "it and their mqueue file systems do not list it");
  CKC_REQUIRE(RootOrUserns(), NamespaceType(NsType::kIpc), NamespaceType(NsType::kMnt),
              Config("CONFIG_POSIX_MQUEUE"), NamespaceQuota(CLONE_NEWIPC | CLONE_NEWNS));
  std::string name = fmt::format("/ckc-mq-{}", ::getpid());
  std::string fsdir = TestDir() + "/mqueue";
  ASSERT_OK(MakeDirs(fsdir));
  // Each side also mounts its namespace's mqueue file system and looks for the queue's file.
  IpcKind mq{.create =
                 [&] {
                   mqd_t q = ::mq_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600, nullptr);
                   if (q == static_cast<mqd_t>(-1)) return -1L;
                   ::mq_close(q);
                   return 0L;
                 },
             .lookup =
                 [&] {
                   mqd_t q = ::mq_open(name.c_str(), O_RDONLY);
                   if (q == static_cast<mqd_t>(-1)) return -1L;
                   ::mq_close(q);
                   return 0L;
                 },
             .by_id = {},
             .in_fs = [&] { return fs::exists(fsdir + name); }};
  auto box = IpcBox().Namespaces(CLONE_NEWNS).Then("mqueue fs", [&] {
    return Keep(MountFs("mqueue", fsdir, "mqueue"));
  });
  ExpectIsolated(mq, box, box, "POSIX message queue");
}

}  // namespace
}  // namespace ckc::test

#include "ovl_support.h"

#include <dirent.h>
#include <sched.h>

#include <fmt/format.h>
#include <algorithm>
#include <vector>

#include "mounts.h"

namespace ckc::test {

Result<ChildResult> InPrivateMountNs(const std::function<int(Channel&)>& fn) {
  return RunInChild(
      [&](Channel& ch) {
        if (auto st = MakeRootPrivate(); !st)
          return Report(ch, "setup: " + st.error().Message(), 2);
        return fn(ch);
      },
      CLONE_NEWNS);
}

std::string ReadOr(const std::string& path) {
  auto text = ReadFile(path);
  if (!text) return "!" + ErrnoName(text.error().err);
  return *text;
}

std::string List(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return "!" + ErrnoName(errno);
  std::vector<std::string> names;
  while (auto* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : " ") + n;
  return out;
}

Status PutFile(const std::string& path, std::string_view data, bool append) {
  CKC_TRY(fd, OpenFile(path, O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC), 0644));
  if (::write(fd.get(), data.data(), data.size()) != static_cast<ssize_t>(data.size())) {
    return ErrnoError("write", path);
  }
  return {};
}

std::string UpperKindOf(const std::string& path) {
  auto e = ClassifyUpperEntry(path);
  return e ? e->Describe() : "!" + e.error().Message();
}

Status SeedLayers(const OverlayMount& ovl) {
  CKC_CHECK(PutFile(ovl.lower() + "/ro.txt", kRo));
  return PutFile(ovl.upper() + "/rw.txt", kRw);
}

Result<OverlayMount> MountSeeded(const std::string& base) {
  CKC_TRY(ovl, OverlayMount::Create(base));
  CKC_CHECK(SeedLayers(ovl));
  CKC_CHECK(ovl.Mount());
  return ovl;
}

}  // namespace ckc::test

#include "cgroup_devices.h"

#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fmt/format.h>
#include <cstddef>
#include <cstring>

namespace ckc {

namespace {

long Bpf(int cmd, bpf_attr* attr) { return ::syscall(SYS_bpf, cmd, attr, sizeof *attr); }

bpf_insn Insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  bpf_insn i{};
  i.code = code;
  i.dst_reg = dst & 0xf;
  i.src_reg = src & 0xf;
  i.off = off;
  i.imm = imm;
  return i;
}
bpf_insn LoadU32(uint8_t dst, int16_t off) {
  return Insn(BPF_LDX | BPF_W | BPF_MEM, dst, BPF_REG_1, off, 0);
}
bpf_insn MovReg(uint8_t dst, uint8_t src) {
  return Insn(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0);
}
bpf_insn MovImm(uint8_t dst, int32_t imm) {
  return Insn(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm);
}
bpf_insn And32(uint8_t dst, int32_t imm) { return Insn(BPF_ALU | BPF_AND | BPF_K, dst, 0, 0, imm); }
bpf_insn Rsh32(uint8_t dst, int32_t imm) { return Insn(BPF_ALU | BPF_RSH | BPF_K, dst, 0, 0, imm); }
bpf_insn JneImm(uint8_t dst, int32_t imm) {
  return Insn(BPF_JMP | BPF_JNE | BPF_K, dst, 0, 0, imm);
}
bpf_insn Exit() { return Insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0); }

int AccessMask(const std::string& access) {
  int mask = 0;
  for (char c : access) {
    if (c == 'm') mask |= BPF_DEVCG_ACC_MKNOD;
    if (c == 'r') mask |= BPF_DEVCG_ACC_READ;
    if (c == 'w') mask |= BPF_DEVCG_ACC_WRITE;
  }
  return mask;
}

// One rule: jumps past its own end on any mismatch, returns 1 on a match.
// Registers: r3 device type, r4 requested access, r5 major, r6 minor (set up by the prologue).
std::vector<bpf_insn> RuleBlock(const DeviceRule& rule) {
  std::vector<bpf_insn> b;
  b.push_back(JneImm(BPF_REG_3, rule.type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR));
  int mask = AccessMask(rule.access);
  if (mask != (BPF_DEVCG_ACC_MKNOD | BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE)) {
    b.push_back(MovReg(BPF_REG_7, BPF_REG_4));
    b.push_back(And32(BPF_REG_7, ~mask));
    b.push_back(JneImm(BPF_REG_7, 0));  // asked for something outside the rule
  }
  if (rule.major >= 0) b.push_back(JneImm(BPF_REG_5, rule.major));
  if (rule.minor >= 0) b.push_back(JneImm(BPF_REG_6, rule.minor));
  b.push_back(MovImm(BPF_REG_0, 1));
  b.push_back(Exit());
  for (size_t i = 0; i < b.size(); ++i) {
    if (b[i].code == (BPF_JMP | BPF_JNE | BPF_K)) b[i].off = static_cast<int16_t>(b.size() - i - 1);
  }
  return b;
}

}  // namespace

Result<UniqueFd> LoadDeviceProgram(const std::vector<DeviceRule>& allow) {
  // bpf_cgroup_dev_ctx: access_type (access << 16 | type), major, minor.
  std::vector<bpf_insn> prog = {LoadU32(BPF_REG_2, 0),    MovReg(BPF_REG_3, BPF_REG_2),
                                And32(BPF_REG_3, 0xffff), MovReg(BPF_REG_4, BPF_REG_2),
                                Rsh32(BPF_REG_4, 16),     LoadU32(BPF_REG_5, 4),
                                LoadU32(BPF_REG_6, 8)};
  for (const auto& rule : allow) {
    auto block = RuleBlock(rule);
    prog.insert(prog.end(), block.begin(), block.end());
  }
  prog.push_back(MovImm(BPF_REG_0, 0));
  prog.push_back(Exit());
  return BpfProgLoad(BPF_PROG_TYPE_CGROUP_DEVICE, prog);
}

Result<UniqueFd> BpfProgLoad(int prog_type, const std::vector<bpf_insn>& insns) {
  static char license[] = "GPL";
  std::string log(16384, '\0');
  bpf_attr attr{};
  attr.prog_type = static_cast<uint32_t>(prog_type);
  attr.insns = reinterpret_cast<uint64_t>(insns.data());
  attr.insn_cnt = static_cast<uint32_t>(insns.size());
  attr.license = reinterpret_cast<uint64_t>(license);
  attr.log_buf = reinterpret_cast<uint64_t>(log.data());
  attr.log_size = static_cast<uint32_t>(log.size());
  attr.log_level = 1;
  long fd = Bpf(BPF_PROG_LOAD, &attr);
  if (fd < 0) {
    auto e = ErrnoError("bpf(BPF_PROG_LOAD)", fmt::format("prog_type {}", prog_type));
    e.error().detail = log.substr(0, log.find('\0'));
    return e;
  }
  return UniqueFd(static_cast<int>(fd));
}

Result<UniqueFd> PrioritySocketFilter(uint32_t priority) {
  // r0 = skb->priority; return r0 == priority ? whole packet : drop.
  std::vector<bpf_insn> prog = {
      Insn(BPF_LDX | BPF_W | BPF_MEM, BPF_REG_0, BPF_REG_1,
           static_cast<int16_t>(offsetof(__sk_buff, priority)), 0),
      Insn(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_0, 0, 2, static_cast<int32_t>(priority)),
      MovImm(BPF_REG_0, 0xffff),
      Exit(),
      MovImm(BPF_REG_0, 0),
      Exit()};
  return BpfProgLoad(BPF_PROG_TYPE_SOCKET_FILTER, prog);
}

Status AttachDeviceProgram(int cgroup_dir_fd, int prog_fd) {
  bpf_attr attr{};
  attr.target_fd = static_cast<uint32_t>(cgroup_dir_fd);
  attr.attach_bpf_fd = static_cast<uint32_t>(prog_fd);
  attr.attach_type = BPF_CGROUP_DEVICE;
  attr.attach_flags = BPF_F_ALLOW_MULTI;  // ancestors (systemd) may hold programs of their own
  if (Bpf(BPF_PROG_ATTACH, &attr) != 0)
    return ErrnoError("bpf(BPF_PROG_ATTACH)", "BPF_CGROUP_DEVICE");
  return {};
}

Status AllowOnlyDevices(const Cgroup& cg, const std::vector<DeviceRule>& allow) {
  CKC_TRY(v, cg.version("devices"));
  if (v == CgroupVersion::kV1) {
    CKC_CHECK(cg.Write("devices", "devices.deny", "a"));
    for (const auto& r : allow) {
      auto num = [](int n) { return n < 0 ? std::string("*") : std::to_string(n); };
      CKC_CHECK(cg.Write("devices", "devices.allow",
                         fmt::format("{} {}:{} {}", r.type, num(r.major), num(r.minor), r.access)));
    }
    return {};
  }
  CKC_TRY(prog, LoadDeviceProgram(allow));
  CKC_TRY(dir, cg.OpenV2Dir());
  return AttachDeviceProgram(dir.get(), prog.get());
}

}  // namespace ckc

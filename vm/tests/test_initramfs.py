"""cpio newc writer, ldd parsing, and the CLI's handling of bad input."""

import io
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path
from unittest import mock

from vm import cpio, elfdeps, initramfs

REPO = Path(__file__).resolve().parents[2]


def read_newc(data: bytes) -> dict[str, bytes]:
    """name → contents of every entry of a newc archive (directories and links too)."""
    entries, pos = {}, 0
    while True:
        header = data[pos:pos + 110]
        size, namesize = int(header[54:62], 16), int(header[94:102], 16)
        name = data[pos + 110:pos + 110 + namesize - 1].decode()
        pos += 110 + namesize + (4 - (110 + namesize) % 4) % 4
        if name == cpio.TRAILER:
            return entries
        entries[name] = data[pos:pos + size]
        pos += size + (4 - size % 4) % 4


def fixture_binaries(tmp: Path) -> dict[str, Path]:
    """Stand-ins for the suite, the guard and the host tools: copies of a dynamic binary, the
    ext4 one a link named like Debian's (mkfs.ext4 -> mke2fs)."""
    true = Path("/bin/true")  # coreutils: on every system
    made = {}
    for name in ("ckc-suite-ns", "ckc-guard", "apparmor_parser", "mke2fs"):
        made[name] = tmp / name
        shutil.copy(true, made[name])
    (tmp / "mkfs.ext4").symlink_to("mke2fs")
    made["mkfs.ext4"] = tmp / "mkfs.ext4"
    return made


class Cpio(unittest.TestCase):
    def test_archive_lists_with_cpio_tool(self):
        buf = io.BytesIO()
        w = cpio.CpioWriter(buf)
        w.add_file("ckc/bin/x", b"abc", 0o755)
        w.add_symlink("bin/sh", "busybox")
        w.add_chardev("dev/console", 5, 1)
        w.close()
        data = buf.getvalue()
        self.assertEqual(len(data) % 4, 0)
        self.assertTrue(data.startswith(b"070701"))
        listing = subprocess.run(["cpio", "-t", "--quiet"], input=data, capture_output=True)
        if listing.returncode == 0:
            names = listing.stdout.decode().split()
            self.assertEqual(names, ["ckc", "ckc/bin", "ckc/bin/x", "bin", "bin/sh",
                                     "dev", "dev/console"])


class Ldd(unittest.TestCase):
    def test_parse(self):
        text = ("\tlinux-vdso.so.1 (0x00007ffd)\n"
                "\tlibgtest.so.1.12.1 => /lib/x86_64-linux-gnu/libgtest.so.1.12.1 (0x7f)\n"
                "\tlibnl-3.so.200 => not found\n"
                "\t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n")
        found, missing = elfdeps.parse_ldd(text)
        self.assertEqual(found, ["/lib/x86_64-linux-gnu/libgtest.so.1.12.1",
                                 "/lib64/ld-linux-x86-64.so.2"])
        self.assertEqual(missing, ["libnl-3.so.200"])

    def test_real_binary_has_loader(self):
        libs = elfdeps.shared_libraries(Path(sys.executable))
        self.assertTrue(any("ld-linux" in l.path for l in libs))


class Payload(unittest.TestCase):
    def build(self, **kw) -> tuple[dict[str, bytes], initramfs.BuildReport]:
        out, report = io.BytesIO(), initramfs.BuildReport()
        w = cpio.CpioWriter(out)
        initramfs.add_payload(w, initramfs.Payload(**kw), report)
        w.close()
        return read_newc(out.getvalue()), report

    def test_tools_and_their_libraries_are_in_the_guest_path(self):
        with tempfile.TemporaryDirectory() as tmp:
            b = fixture_binaries(Path(tmp))
            files, report = self.build(suites={"ns": b["ckc-suite-ns"]}, tools={
                "apparmor_parser": b["apparmor_parser"], "mkfs.ext4": b["mkfs.ext4"]})
        self.assertIn("usr/sbin/apparmor_parser", files)
        self.assertEqual(files["usr/sbin/mkfs.ext4"], files["usr/sbin/apparmor_parser"])
        self.assertEqual(report.tools, ["apparmor_parser", "mkfs.ext4"])
        self.assertIn(b"no options", files["etc/apparmor/parser.conf"])
        self.assertTrue(any("libc.so" in lib for lib in report.libraries), report.libraries)

    def test_guard_runs_its_snapshot_before_and_its_comparison_after(self):
        with tempfile.TemporaryDirectory() as tmp:
            b = fixture_binaries(Path(tmp))
            files, _ = self.build(suites={"ns": b["ckc-suite-ns"]}, guard=b["ckc-guard"])
            unguarded, _ = self.build(suites={"ns": b["ckc-suite-ns"]})
        self.assertIn("ckc/bin/ckc-guard", files)
        self.assertEqual(files["ckc/guard-before.list"],
                         b"guard-snapshot /ckc/bin/ckc-guard --gtest_filter=HostGuard.Snapshot\n")
        self.assertEqual(files["ckc/guard-after.list"],
                         b"guard-unchanged /ckc/bin/ckc-guard "
                         b"--gtest_filter=HostGuard.Unchanged\n")
        self.assertEqual(files["ckc/suites.list"], b"ns /ckc/bin/ckc-suite-ns\n")
        self.assertEqual(unguarded["ckc/guard-before.list"], b"")
        self.assertNotIn("ckc/bin/ckc-guard", unguarded)

    def test_busybox_links_give_way_to_real_programs(self):
        out = io.BytesIO()
        w = cpio.CpioWriter(out)
        with tempfile.NamedTemporaryFile() as bb, mock.patch.object(
                initramfs, "busybox_applets", return_value=["sbin/mkfs.ext4", "sbin/mke2fs"]):
            initramfs.add_base(w, Path(bb.name), frozenset({"mkfs.ext4"}))
        w.close()
        files = read_newc(out.getvalue())
        self.assertIn("sbin/mke2fs", files)
        self.assertNotIn("sbin/mkfs.ext4", files)

    def test_host_tools_are_found_outside_path(self):
        with tempfile.TemporaryDirectory() as tmp:
            b = fixture_binaries(Path(tmp))
            with mock.patch.object(initramfs.shutil, "which", return_value=None), \
                    mock.patch.object(initramfs, "TOOL_DIRS", ("/nonexistent", tmp)):
                found, missing = initramfs.find_tools(("apparmor_parser", "ckc-absent"))
        self.assertEqual(found, {"apparmor_parser": b["apparmor_parser"]})
        self.assertEqual(missing, ["ckc-absent"])


class InitScript(unittest.TestCase):
    """What the guest's init does, in order (a shell script: read, not run)."""

    def main_steps(self) -> list[str]:
        text = initramfs.INIT_SCRIPT.read_text()
        body = re.search(r"^main\(\) \{\n(.*?)^\}", text, re.S | re.M).group(1)
        return [line.strip() for line in body.splitlines() if line.strip()]

    def test_guard_brackets_every_binary(self):
        steps = self.main_steps()
        order = [steps.index(f"run_list /ckc/{name}") for name in (
            "guard-before.list suite", "suites.list suite", "bench.list bench",
            "guard-after.list suite")]
        self.assertEqual(order, sorted(order))
        self.assertLess(steps.index("export CKC_GUARD_FILE=/run/ckc-guard.json"), order[0])
        self.assertLess(steps.index("setup_swap_and_loop"), order[0])

    def test_zswap_follows_zram_swap_and_has_a_switch(self):
        text = initramfs.INIT_SCRIPT.read_text()
        swap = text[text.index("setup_swap_and_loop() {"):]
        self.assertLess(swap.index("swapon /dev/zram0"), swap.index("setup_zswap"))
        self.assertIn("ckc.zswap=*) ZSWAP=", text)
        self.assertIn("echo Y > \"$knob\"", text)
        self.assertIn("knob=/sys/module/zswap/parameters/enabled", text)

    def test_securityfs_is_mounted_unless_it_is(self):
        text = initramfs.INIT_SCRIPT.read_text()
        self.assertIn('grep -q " /sys/kernel/security " /proc/mounts', text)
        self.assertIn("mount -t securityfs securityfs /sys/kernel/security", text)


class CliErrors(unittest.TestCase):
    def run_cli(self, *args):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "out"
            proc = subprocess.run([sys.executable, "-m", "vm.cli", "--out", str(out), *args],
                                  cwd=REPO, capture_output=True, text=True, timeout=60)
            self.assertFalse(out.exists(), "nothing may be written on bad input")
        return proc

    def assert_one_line(self, proc, text):
        self.assertEqual(proc.returncode, 2)
        self.assertEqual(len(proc.stderr.strip().splitlines()), 1, proc.stderr)
        self.assertIn(text, proc.stderr)

    def test_unknown_kernel(self):
        self.assert_one_line(self.run_cli("--kernels", "bookworm,4.19"), "known: bullseye")

    def test_missing_vmlinuz(self):
        self.assert_one_line(self.run_cli("--kernels", "/nonexistent/vmlinuz"), "not found")

    def test_unknown_mode(self):
        self.assert_one_line(self.run_cli("--modes", "v1,cgroup3"), "unknown mode 'cgroup3'")

    def test_bench_args_need_bench_and_flags(self):
        self.assert_one_line(self.run_cli("--bench-args=--rounds=3"), "needs --bench")
        self.assert_one_line(self.run_cli("--bench", "short", "--bench-args=rounds"),
                             "takes flags only")


if __name__ == "__main__":
    unittest.main()


class NoQemu(unittest.TestCase):
    def test_no_qemu_and_not_root_is_a_usage_error(self):
        from unittest import mock
        from vm import cli, qemu
        with mock.patch.object(qemu, "find_qemu", return_value=None), \
                mock.patch.object(cli.os, "geteuid", return_value=1000):
            with self.assertRaisesRegex(cli.UsageError, "no way to install"):
                cli.ensure_tools()

"""cpio newc writer, ldd parsing, and the CLI's handling of bad input."""

import io
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

from vm import cpio, elfdeps

REPO = Path(__file__).resolve().parents[2]


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

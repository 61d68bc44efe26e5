"""Kernel names, local kernels, package trees and metapackage resolution (no network)."""

import tempfile
import unittest
from pathlib import Path

from vm import kernels


def bzimage(release: str) -> bytes:
    """A fake bzImage: setup header magic and the kernel_version pointer at 0x20e."""
    data = bytearray(0x1000)
    data[0x202:0x206] = b"HdrS"
    data[0x20E:0x210] = (0x400 - 0x200).to_bytes(2, "little")
    text = f"{release} (builder@host) #1 SMP".encode()
    data[0x400:0x400 + len(text)] = text
    return bytes(data)


class Names(unittest.TestCase):
    def setUp(self):
        self.entries, self.default, self.modules = kernels.load_matrix()

    def test_matrix_defaults(self):
        self.assertEqual(self.default, ["bullseye", "bookworm", "trixie", "sid"])
        self.assertIn("overlay", self.modules)

    def test_versions_and_names_both_resolve(self):
        self.assertEqual(kernels.find_entry(self.entries, "5.10").suite, "bullseye")
        self.assertEqual(kernels.find_entry(self.entries, "6.12").name, "trixie")
        self.assertEqual(kernels.find_entry(self.entries, "sid").metapackage,
                         "linux-image-cloud-amd64")

    def test_unknown_name_lists_known(self):
        with self.assertRaises(kernels.KernelError) as ctx:
            kernels.check_specs(["5.11"], self.entries)
        self.assertIn("bullseye (5.10)", str(ctx.exception))

    def test_missing_vmlinuz_path(self):
        with self.assertRaisesRegex(kernels.KernelError, "not found: /nonexistent/vmlinuz"):
            kernels.check_specs(["/nonexistent/vmlinuz"], self.entries)


class Local(unittest.TestCase):
    def test_release_from_bzimage_and_modules_beside(self):
        with tempfile.TemporaryDirectory() as tmp:
            image = Path(tmp) / "vmlinuz"
            image.write_bytes(bzimage("6.19.0-rc1+"))
            mods = Path(tmp) / "lib/modules/6.19.0-rc1+"
            mods.mkdir(parents=True)
            kernel = kernels.local_kernel(str(image))
            self.assertEqual(kernel.release, "6.19.0-rc1+")
            self.assertEqual(kernel.modules_dir, mods.resolve())
            explicit = kernels.local_kernel(f"{image}:{mods}")
            self.assertEqual(explicit.modules_dir, mods.resolve())

    def test_not_a_bzimage(self):
        with tempfile.NamedTemporaryFile() as f:
            f.write(b"\0" * 4096)
            f.flush()
            self.assertEqual(kernels.bzimage_release(Path(f.name)), "")


class Trees(unittest.TestCase):
    def test_old_layout(self):
        with tempfile.TemporaryDirectory() as tmp:
            t = Path(tmp)
            (t / "boot").mkdir()
            (t / "boot/vmlinuz-6.1.0-50-cloud-amd64").write_bytes(b"k")
            (t / "boot/config-6.1.0-50-cloud-amd64").write_text("CONFIG_X=y\n")
            (t / "lib/modules/6.1.0-50-cloud-amd64").mkdir(parents=True)
            k = kernels.describe_tree(t, "bookworm", "pkg 1")
            self.assertEqual(k.release, "6.1.0-50-cloud-amd64")
            self.assertEqual(k.vmlinuz.name, "vmlinuz-6.1.0-50-cloud-amd64")
            self.assertEqual(k.config.name, "config-6.1.0-50-cloud-amd64")

    def test_split_layout_under_usr_lib_modules(self):
        with tempfile.TemporaryDirectory() as tmp:
            mod = Path(tmp) / "usr/lib/modules/7.2.13+deb14-cloud-amd64"
            mod.mkdir(parents=True)
            (mod / "vmlinuz").write_bytes(b"k")
            (mod / "config").write_text("CONFIG_X=y\n")
            k = kernels.describe_tree(Path(tmp), "sid", "pkg 2")
            self.assertEqual(k.vmlinuz, mod / "vmlinuz")
            self.assertEqual(k.config, mod / "config")


class FakeApt:
    """apt-cache show answers for a sid-like split kernel."""

    def __init__(self):
        self.answers = {
            "linux-image-cloud-amd64": {"depends": "linux-base-cloud-amd64 (= 7.2-1), "
                                        "linux-image-7.2.13+deb14-cloud-amd64 (= 7.2-1)"},
            "linux-image-7.2.13+deb14-cloud-amd64": {
                "version": "7.2.13-1",
                "depends": "dracut | initramfs-tools, linux-base-7.2.13+deb14-cloud-amd64 "
                           "(= 7.2.13-1), linux-binary-7.2.13+deb14-cloud-amd64 (= 7.2.13-1), "
                           "linux-modules-7.2.13+deb14-cloud-amd64 (= 7.2.13-1), kmod"},
        }

    def show(self, package, suite):
        return self.answers[package]


class Resolve(unittest.TestCase):
    def test_split_packages_are_all_fetched(self):
        entry = kernels.MatrixEntry("sid", "sid", "linux-image-cloud-amd64")
        image, version, packages = kernels.resolve_packages(FakeApt(), entry)
        self.assertEqual(image, "linux-image-7.2.13+deb14-cloud-amd64")
        self.assertEqual(version, "7.2.13-1")
        self.assertEqual(packages, [image, "linux-base-7.2.13+deb14-cloud-amd64",
                                    "linux-binary-7.2.13+deb14-cloud-amd64",
                                    "linux-modules-7.2.13+deb14-cloud-amd64"])


if __name__ == "__main__":
    unittest.main()

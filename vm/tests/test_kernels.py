"""Kernel names, local kernels, package trees and metapackage resolution (no network)."""

import tempfile
import unittest
from pathlib import Path
from unittest import mock

from vm import aptsrc, kernels

FIXTURES = Path(__file__).parent / "fixtures"


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


class FixtureApt:
    """apt answers from fixture Packages indexes (fixtures/packages/<suite>: the kernel
    packages of each suite as the archive had them), or from stanzas given."""

    def __init__(self, indexes=None):
        self.indexes = indexes or {}

    def index(self, suite):
        if suite not in self.indexes:
            path = FIXTURES / "packages" / suite
            self.indexes[suite] = aptsrc._stanzas(path.read_text()) if path.is_file() else []
        return self.indexes[suite]

    def show(self, package, suite):
        for stanza in self.index(suite):
            if stanza["package"] == package:
                return stanza
        raise aptsrc.AptError(f"{package}/{suite}: not found")


class MatrixEntries(unittest.TestCase):
    def setUp(self):
        self.entries, self.default, _ = kernels.load_matrix()

    def test_every_entry_resolves_from_its_suite_index(self):
        for entry in self.entries:
            with self.subTest(kernel=entry.name):
                image, version, packages = kernels.resolve_packages(FixtureApt(), entry)
                self.assertRegex(image, r"^linux-image-[0-9].*-cloud-amd64$")
                self.assertTrue(version)
                self.assertEqual(packages[0], image)

    def test_newer_kernels_are_known_but_not_default(self):
        self.assertEqual(kernels.find_entry(self.entries, "bpo").suite, "trixie-backports")
        self.assertEqual(kernels.find_entry(self.entries, "rc").suite, "experimental")
        self.assertNotIn("trixie-backports", self.default)
        self.assertNotIn("experimental", self.default)

    def test_backports_and_experimental_resolve_to_their_own_versions(self):
        bpo = kernels.find_entry(self.entries, "trixie-backports")
        image, version, _ = kernels.resolve_packages(FixtureApt(), bpo)
        self.assertEqual((image, version), ("linux-image-7.3.4+deb13-cloud-amd64",
                                            "7.3.4-1~bpo13+1"))
        rc = kernels.find_entry(self.entries, "experimental")
        image, version, packages = kernels.resolve_packages(FixtureApt(), rc)
        self.assertEqual((image, version), ("linux-image-7.3-cloud-amd64", "7.3~rc7-1~exp1"))
        self.assertIn("linux-modules-7.3-cloud-amd64", packages)


def stanza(package, version, depends=""):
    return {"package": package, "version": version, "depends": depends}


class NoMetapackage(unittest.TestCase):
    ENTRY = kernels.MatrixEntry("experimental", "experimental", "linux-image-cloud-amd64")

    def test_newest_versioned_image_is_taken(self):
        apt = FixtureApt({"experimental": [
            stanza("linux-image-6.19.9-cloud-amd64", "6.19.9-1"),
            stanza("linux-image-6.19.10-cloud-amd64-unsigned", "6.19.10-1"),
            stanza("linux-image-6.19.10-cloud-amd64", "6.19.10-1",
                   "linux-modules-6.19.10-cloud-amd64 (= 6.19.10-1)"),
            stanza("linux-image-7.0~rc1-cloud-amd64-dbg", "7.0~rc1-1"),
            stanza("linux-image-6.19.10-amd64", "6.19.10-1"),
            stanza("linux-image-cloud-amd64-dbg", "7.0~rc1-1"),
        ]})
        image, version, packages = kernels.resolve_packages(apt, self.ENTRY)
        self.assertEqual(image, "linux-image-6.19.10-cloud-amd64")
        self.assertEqual(packages, [image, "linux-modules-6.19.10-cloud-amd64"])

    def test_release_candidate_sorts_before_its_release(self):
        index = [stanza("linux-image-7.3-cloud-amd64", "7.3~rc7-1~exp1"),
                 stanza("linux-image-7.2.13-cloud-amd64", "7.2.13-1")]
        self.assertEqual(kernels.newest_image(index, self.ENTRY),
                         "linux-image-7.3-cloud-amd64")
        index.append(stanza("linux-image-7.3.1-cloud-amd64", "7.3.1-1"))
        self.assertEqual(kernels.newest_image(index, self.ENTRY),
                         "linux-image-7.3.1-cloud-amd64")

    def test_a_suite_without_a_kernel_is_one_clear_error(self):
        apt = FixtureApt({"experimental": [stanza("linux-image-cloud-amd64-dbg", "7.0-1")]})
        with self.assertRaises(aptsrc.AptError) as ctx:
            kernels.resolve_packages(apt, self.ENTRY)
        self.assertEqual(str(ctx.exception).count("\n"), 0)
        self.assertIn("experimental has no kernel today", str(ctx.exception))


class PrivateAptSuites(unittest.TestCase):
    def test_only_the_suites_asked_for_are_fetched(self):
        entries, _, _ = kernels.load_matrix()
        with tempfile.TemporaryDirectory() as tmp, \
                mock.patch.object(kernels, "cache_root", return_value=Path(tmp)), \
                mock.patch.object(kernels, "make_private_apt") as make, \
                mock.patch.object(kernels, "fetch") as fetch:
            kernels.resolve(["rc", "bpo"], entries)
        suites = [e.suite for e in make.call_args.args[0]]
        self.assertEqual(suites, ["experimental", "trixie-backports"])
        self.assertEqual(fetch.call_count, 2)


if __name__ == "__main__":
    unittest.main()

"""Module dependency order from a fixture modules.dep, and decompression."""

import lzma
import tempfile
import unittest
from pathlib import Path

from vm import modules

FIXTURES = Path(__file__).parent / "fixtures"


class Resolve(unittest.TestCase):
    def setUp(self):
        self.deps = modules.parse_modules_dep((FIXTURES / "modules.dep").read_text())

    def test_dependencies_come_first_each_once(self):
        loads, missing = modules.resolve_order(["bridge", "stp", "overlay"], self.deps)
        self.assertEqual([l.name for l in loads], ["llc", "stp", "bridge", "overlay"])
        self.assertEqual(missing, [])

    def test_missing_and_builtin_modules_are_reported(self):
        loads, missing = modules.resolve_order(["veth", "netprio_cgroup", "fuse"], self.deps)
        self.assertEqual([l.name for l in loads], ["veth"])
        self.assertEqual(missing, ["netprio_cgroup", "fuse"])

    def test_every_dependency_precedes_its_user(self):
        loads, _ = modules.resolve_order(["zram", "ipvlan", "act-gact"], self.deps)
        names = [l.name for l in loads]
        self.assertLess(names.index("zsmalloc"), names.index("zram"))
        self.assertLess(names.index("lz4hc_compress"), names.index("zram"))
        self.assertLess(names.index("nf_defrag_ipv6"), names.index("ipvlan"))
        self.assertIn("act_gact", names)
        self.assertEqual(len(names), len(set(names)))

    def test_builtin_modules_are_told_apart(self):
        with tempfile.TemporaryDirectory() as tmp:
            self.assertEqual(modules.builtin_names(Path(tmp)), set())
            (Path(tmp) / "modules.builtin").write_text("kernel/fs/ext4/ext4.ko\n"
                                                        "kernel/net/core/netprio-cgroup.ko\n")
            self.assertEqual(modules.builtin_names(Path(tmp)), {"ext4", "netprio_cgroup"})

    def test_module_name(self):
        self.assertEqual(modules.module_name("kernel/net/sched/sch-htb.ko.zst"), "sch_htb")
        self.assertEqual(modules.module_name("extra/foo.ko"), "foo")


class Decompress(unittest.TestCase):
    def test_xz_is_decompressed(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "x.ko.xz"
            path.write_bytes(lzma.compress(b"\x7fELF module"))
            self.assertEqual(modules.decompressed_bytes(path), b"\x7fELF module")
            plain = Path(tmp) / "y.ko"
            plain.write_bytes(b"plain")
            self.assertEqual(modules.decompressed_bytes(plain), b"plain")


if __name__ == "__main__":
    unittest.main()

"""QEMU argv builder and kernel command line."""

import unittest
from pathlib import Path

from vm import qemu


def config(**kw):
    base = dict(kernel=Path("/k/vmlinuz"), initrd=Path("/w/initrd.gz"),
                console_log=Path("/o/a.console.log"), results_log=Path("/t/a.serial"), mode="v2")
    base.update(kw)
    return qemu.VmConfig(**base)


class Argv(unittest.TestCase):
    def test_tcg_argv(self):
        argv = qemu.build_argv(config(accel="tcg", memory_mib=768, cpus=2))
        self.assertEqual(argv[0], "qemu-system-x86_64")
        self.assertIn("tcg,thread=multi", argv)
        self.assertEqual(argv[argv.index("-cpu") + 1], "max")
        self.assertEqual(argv[argv.index("-m") + 1], "768")
        self.assertEqual(argv[argv.index("-smp") + 1], "2")
        self.assertEqual(argv[argv.index("-kernel") + 1], "/k/vmlinuz")
        self.assertEqual(argv[argv.index("-initrd") + 1], "/w/initrd.gz")
        self.assertIn("-no-reboot", argv)
        self.assertTrue(all(isinstance(a, str) for a in argv))

    def test_kvm_argv(self):
        argv = qemu.build_argv(config(accel="kvm"))
        self.assertEqual(argv[argv.index("-accel") + 1], "kvm")
        self.assertEqual(argv[argv.index("-cpu") + 1], "host")

    def test_two_serial_ports_console_first(self):
        argv = qemu.build_argv(config())
        chardevs = [argv[i + 1] for i, a in enumerate(argv) if a == "-chardev"]
        self.assertEqual(chardevs, ["file,id=console,path=/o/a.console.log",
                                    "file,id=results,path=/t/a.serial"])
        serials = [argv[i + 1] for i, a in enumerate(argv) if a == "-serial"]
        self.assertEqual(serials, ["chardev:console", "chardev:results"])


class Cmdline(unittest.TestCase):
    def append_of(self, cfg):
        argv = qemu.build_argv(cfg)
        return argv[argv.index("-append") + 1].split()

    def test_v2_turns_off_v1_controllers(self):
        words = self.append_of(config(mode="v2"))
        self.assertIn("cgroup_no_v1=all", words)
        self.assertIn("ckc.mode=v2", words)
        self.assertIn("console=ttyS0,115200", words)
        self.assertIn("panic=-1", words)

    def test_v1_and_hybrid_keep_v1(self):
        for mode in ("v1", "hybrid"):
            words = self.append_of(config(mode=mode))
            self.assertNotIn("cgroup_no_v1=all", words)
            self.assertIn(f"ckc.mode={mode}", words)

    def test_user_words_come_last_and_accel_and_timeout_pass_through(self):
        words = self.append_of(config(append=["cgroup_disable=memory"], accel="kvm",
                                      suite_timeout=77))
        self.assertEqual(words[-1], "cgroup_disable=memory")
        self.assertIn("ckc.accel=kvm", words)
        self.assertIn("ckc.timeout=77", words)

    def test_unknown_mode(self):
        with self.assertRaises(ValueError):
            qemu.mode_cmdline("v3")


class Names(unittest.TestCase):
    def test_local_kernels_get_unique_file_names(self):
        from vm import runner
        from vm.kernels import Kernel
        ks = [Kernel("bookworm", Path("/a"), "6.1", None),
              Kernel("/x/vmlinuz:/x/lib/modules/6.19", Path("/x/vmlinuz"), "6.19", None),
              Kernel("/y/vmlinuz", Path("/y/vmlinuz"), "6.20", None)]
        self.assertEqual(list(runner.unique_names(ks).values()),
                         ["bookworm", "vmlinuz", "vmlinuz-2"])


class Shards(unittest.TestCase):
    """`ckc vm --shard K/N --dry-run`: names only, no apt, QEMU or built binaries."""

    def dry_run(self, *argv):
        import contextlib
        import io

        from vm import cli
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            self.assertEqual(cli.main(["--dry-run", *argv]), 0)
        return out.getvalue().splitlines()

    def test_default_matrix_in_canonical_order(self):
        self.assertEqual(self.dry_run(), [f"{k}-{m}" for k in ("bullseye", "bookworm", "trixie",
                                                                "sid") for m in ("v1", "v2")])

    def test_shards_partition_the_job_list(self):
        for argv in ([], ["--kernels", "6.1,sid,5.10", "--modes", "v1,v2,hybrid"]):
            full = self.dry_run(*argv)
            parts = [self.dry_run(*argv, "--shard", f"{k}/3") for k in (1, 2, 3)]
            self.assertEqual(sorted(sum(parts, [])), sorted(full))
            self.assertEqual(len(set(sum(parts, []))), len(full))
            self.assertLessEqual(max(map(len, parts)) - min(map(len, parts)), 1)
            self.assertEqual(parts[1], full[1::3])  # job i goes to shard (i mod N) + 1
            self.assertEqual(self.dry_run(*argv, "--shard", "1/1"), full)

    def test_aliases_resolve_to_matrix_names_without_apt(self):
        self.assertEqual(self.dry_run("--kernels", "6.1", "--modes", "v2"), ["bookworm-v2"])

    def test_bad_shard_is_one_line_and_exit_2(self):
        import contextlib
        import io

        from vm import cli
        for bad in ("0/3", "4/3", "x", "1/0", "1/", "1/3/2", " 1/3"):
            err = io.StringIO()
            with self.subTest(shard=bad), contextlib.redirect_stderr(err):
                self.assertEqual(cli.main(["--dry-run", "--shard", bad]), 2)
                self.assertEqual(len(err.getvalue().splitlines()), 1, err.getvalue())
                self.assertIn("--shard", err.getvalue())


if __name__ == "__main__":
    unittest.main()

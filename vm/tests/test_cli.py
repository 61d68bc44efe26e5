"""What `ckc vm` puts into the guests from a build directory, and its defaults (no boot)."""

import io
import shutil
import tempfile
import unittest
from pathlib import Path
from unittest import mock

from vm import accel, aptsrc, cli, initramfs, kernels


def fake_build(tmp: Path, names: tuple[str, ...]) -> Path:
    (tmp / "suites").mkdir()
    for name in names:
        shutil.copy("/bin/true", tmp / "suites" / name)  # coreutils: on every system
    return tmp


class Payload(unittest.TestCase):
    def payload(self, names) -> initramfs.Payload:
        with tempfile.TemporaryDirectory() as tmp:
            build = fake_build(Path(tmp), names)
            return cli.find_payload(cli.parse_args(["--build", str(build)]))

    def test_guard_goes_in_as_the_guard_not_as_a_helper(self):
        payload = self.payload(("ckc-suite-ns", "ckc-guard", "ckc-helper"))
        self.assertEqual(payload.guard.name, "ckc-guard")
        self.assertEqual([p.name for p in payload.helpers], ["ckc-helper"])
        self.assertEqual(list(payload.suites), ["ns"])

    def test_no_guard_built_means_no_guard_steps(self):
        self.assertIsNone(self.payload(("ckc-suite-ns",)).guard)


class NoKernelInTheArchive(unittest.TestCase):
    def test_is_one_line_and_exit_status_2(self):
        error = aptsrc.AptError("experimental: experimental has no kernel today (neither "
                                "linux-image-cloud-amd64 nor a linux-image-<version>-cloud-amd64)")
        with tempfile.TemporaryDirectory() as tmp:
            build = fake_build(Path(tmp), ("ckc-suite-ns",))
            out = Path(tmp) / "out"
            with mock.patch.object(cli, "ensure_tools", return_value="qemu"), \
                    mock.patch.object(cli, "choose_accel",
                                      return_value=accel.Choice("tcg", "")), \
                    mock.patch.object(kernels, "resolve", side_effect=error), \
                    mock.patch("sys.stderr", new_callable=io.StringIO) as err:
                status = cli.main(["--kernels", "rc", "--modes", "v2", "--build", str(build),
                                   "--out", str(out)])
            self.assertFalse(out.exists())
        self.assertEqual(status, 2)
        self.assertEqual(err.getvalue().count("\n"), 1, err.getvalue())
        self.assertIn("experimental has no kernel today", err.getvalue())


class Defaults(unittest.TestCase):
    def test_two_vcpus_and_a_gibibyte(self):
        args = cli.parse_args([])
        self.assertEqual((args.cpus, args.memory), (2, 1024))

    def test_missing_guest_tools_are_a_line_not_an_error(self):
        with mock.patch.object(initramfs, "find_tools", return_value=({}, ["apparmor_parser"])), \
                mock.patch("sys.stderr") as err:
            cli.ensure_guest_tools(can_install=False)
        text = "".join(c.args[0] for c in err.write.call_args_list)
        self.assertIn("apparmor_parser (apt-get install apparmor)", text)


if __name__ == "__main__":
    unittest.main()

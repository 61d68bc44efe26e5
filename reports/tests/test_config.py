"""reports.config_map and `ckc check-config`."""
from __future__ import annotations

import gzip
import os
import shutil
import tempfile
import unittest

from reports.catalogue import project_catalogue
from reports.config_map import (BY_NAME, OPTIONS, ConfigError, explain_reason, options_for_row,
                                read_config)
from reports.tests.helpers import fixture, run_cli

CONFIG = "config-6.12-fixture"


class ConfigMapTest(unittest.TestCase):
    def test_read_plain_and_gz(self) -> None:
        plain = read_config(fixture(CONFIG))
        self.assertEqual(plain["CONFIG_USER_NS"], "y")
        self.assertEqual(plain["CONFIG_VETH"], "m")
        self.assertEqual(plain["CONFIG_MEMCG_V1"], "n")
        with tempfile.TemporaryDirectory() as tmp:
            gz = os.path.join(tmp, "config.gz")
            with open(fixture(CONFIG), "rb") as src, gzip.open(gz, "wb") as dst:
                shutil.copyfileobj(src, dst)
            self.assertEqual(read_config(gz), plain)

    def test_bad_configs(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            broken = os.path.join(tmp, "broken.gz")
            with open(broken, "wb") as f:
                f.write(b"\x1f\x8b\x08\x00garbage")
            for path, words in ((fixture("foreign.json"), "not a kernel config"),
                                (broken, "broken gzip"), ("/nonexistent", "cannot read")):
                with self.subTest(path=path), self.assertRaises(ConfigError) as ctx:
                    read_config(path)
                self.assertIn(words, str(ctx.exception))

    def test_brief_mappings(self) -> None:
        self.assertIn("user.*", BY_NAME["CONFIG_USER_NS"].rows)
        self.assertEqual(BY_NAME["CONFIG_MEMCG_V1"].mode, "v1")
        self.assertIn("CONFIG_NET_CLS_CGROUP", [o.name for o in options_for_row("netcls.classid")])
        self.assertIn("CONFIG_OVERLAY_FS", [o.name for o in options_for_row("ovl.readonly")])
        self.assertIn("CONFIG_SECCOMP_FILTER",
                      [o.name for o in options_for_row("seccomp.filter-errno")])
        self.assertIn("CONFIG_VETH", [o.name for o in options_for_row("net.veth-pair")])
        self.assertIn("CONFIG_CGROUP_PIDS", [o.name for o in options_for_row("pids.max")])
        self.assertIn("CONFIG_MEMCG_V1", explain_reason("config:CONFIG_MEMCG_V1"))
        self.assertEqual(explain_reason("needs:swap"), "")
        self.assertIn("not set", explain_reason("config:CONFIG_SOMETHING_NEW"))

    def test_every_pattern_names_catalogue_rows(self) -> None:
        cat = project_catalogue()
        for opt in OPTIONS:
            with self.subTest(option=opt.name):
                self.assertTrue(any(opt in options_for_row(r) for r in cat.rows), opt.rows)


class CheckConfigCliTest(unittest.TestCase):
    def test_fixture_config(self) -> None:
        done = run_cli("check-config", "--config", fixture(CONFIG))
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertRegex(done.stdout, r"CONFIG_USER_NS\s+y\s+user namespaces; rows: user\.\*")
        self.assertRegex(done.stdout, r"CONFIG_MEMCG_V1\s+n\s+.*rows: mem\.\*\s+<- not set")
        self.assertRegex(done.stdout, r"CONFIG_VETH\s+m\s+")
        self.assertRegex(done.stdout, r"CONFIG_MEMCG_SWAP\s+-\s+")
        self.assertIn("3 modules", done.stdout)

    def test_bad_file_one_line_exit_2(self) -> None:
        for path in (fixture("foreign.json"), fixture("empty.json"), "/nonexistent/config"):
            with self.subTest(path=path):
                done = run_cli("check-config", "--config", path)
                self.assertEqual(done.returncode, 2)
                self.assertEqual(len(done.stderr.strip().splitlines()), 1, done.stderr)
                self.assertIn(path, done.stderr)
                self.assertEqual(done.stdout, "")

    def test_running_kernel(self) -> None:
        done = run_cli("check-config")
        self.assertIn(done.returncode, (0, 2))
        if done.returncode == 0:
            self.assertIn("container-relevant options", done.stdout)
        else:
            self.assertIn("no config of the running kernel", done.stderr)


if __name__ == "__main__":
    unittest.main()

"""The apt sources reader and the private apt configuration, against fixture files."""

import tempfile
import unittest
from pathlib import Path

from vm import aptsrc

FIXTURES = Path(__file__).parent / "fixtures"


class Deb822(unittest.TestCase):
    def test_reads_stanzas_and_skips_disabled(self):
        text = (FIXTURES / "etc-apt/sources.list.d/debian.sources").read_text()
        sources = aptsrc.parse_deb822(text)
        self.assertEqual([s.uris[0] for s in sources],
                         ["http://mirror.invalid/debian-security", "http://mirror.invalid/debian"])
        self.assertEqual(sources[1].types, ("deb", "deb-src"))
        self.assertEqual(sources[1].suites, ("bookworm", "bookworm-updates"))
        self.assertEqual(sources[1].signed_by, "/usr/share/keyrings/debian-archive-keyring.gpg")

    def test_continuation_lines_join(self):
        sources = aptsrc.parse_deb822("Types: deb\nURIs: http://a.invalid/d\nSuites: sid\n"
                                      "Components: main\n contrib\n")
        self.assertEqual(sources[0].components, ("main", "contrib"))


class OneLine(unittest.TestCase):
    def test_options_and_comments(self):
        text = (FIXTURES / "etc-apt/sources.list.d/extra.list").read_text()
        sources = aptsrc.parse_one_line(text)
        self.assertEqual(len(sources), 2)
        self.assertEqual(sources[0].uris, ("http://other.invalid/apt",))
        self.assertEqual(sources[0].signed_by, "/usr/share/keyrings/other.gpg")
        self.assertEqual(sources[1].types, ("deb-src",))
        self.assertEqual(sources[1].components, ("main",))


class SystemSources(unittest.TestCase):
    def test_reads_list_and_sources_but_not_other_files(self):
        sources = aptsrc.read_system_sources(FIXTURES / "etc-apt")
        uris = {s.uris[0] for s in sources}
        self.assertIn("http://oneline.invalid/debian", uris)
        self.assertIn("http://mirror.invalid/debian", uris)
        self.assertNotIn("http://ignored.invalid/debian", uris)
        self.assertNotIn("http://disabled.invalid/debian", uris)

    def test_mirror_is_the_plain_debian_suite(self):
        sources = aptsrc.read_system_sources(FIXTURES / "etc-apt")
        uri, keyring = aptsrc.debian_mirror(sources)
        self.assertEqual(uri, "http://oneline.invalid/debian")  # sources.list comes first
        self.assertEqual(keyring, aptsrc.DEFAULT_KEYRING)
        deb822_only = [s for s in sources if s.origin_file.endswith(".sources")]
        self.assertEqual(aptsrc.debian_mirror(deb822_only)[0], "http://mirror.invalid/debian")

    def test_no_debian_source_is_an_error(self):
        with self.assertRaises(aptsrc.AptError):
            aptsrc.debian_mirror(aptsrc.parse_one_line("deb http://x.invalid/apt stable main\n"))


class PrivateConfig(unittest.TestCase):
    def test_everything_lives_under_the_private_root(self):
        apt = aptsrc.PrivateApt(root=Path("/cache/ckc/apt"), uri="http://mirror.invalid/debian",
                                suites=["bookworm", "sid"])
        conf = apt.conf_text()
        self.assertIn('Dir::State "/cache/ckc/apt/state";', conf)
        self.assertIn('Dir::Etc::sourcelist "/dev/null";', conf)
        self.assertIn('Dir::Etc::sourceparts "/cache/ckc/apt/etc/sources.list.d";', conf)
        self.assertNotIn("AllowUnauthenticated", conf)
        self.assertIn("Suites: bookworm sid", apt.sources_text())
        self.assertIn("Signed-By: " + aptsrc.DEFAULT_KEYRING, apt.sources_text())

    def test_depends_takes_first_alternative(self):
        deps = aptsrc.parse_depends("dracut | initramfs-tools (>= 0.120), linux-binary-7.2 "
                                    "(= 7.2-1),\n linux-modules-7.2 (= 7.2-1)")
        self.assertEqual(deps, ["dracut", "linux-binary-7.2", "linux-modules-7.2"])


class Versions(unittest.TestCase):
    def test_debian_ordering(self):
        ordered = ["6.19.9-1", "6.19.10-1", "7.3~rc6-1~exp1", "7.3~rc7-1~exp1",
                   "7.3.4-1~bpo13+1", "7.3.4-1", "7.3.4-1+b1", "1:6.1-1"]
        for a, b in zip(ordered, ordered[1:]):
            with self.subTest(a=a, b=b):
                self.assertEqual(aptsrc.compare_versions(a, b), -1)
                self.assertEqual(aptsrc.compare_versions(b, a), 1)
        self.assertEqual(aptsrc.compare_versions("7.3.4-1", "7.3.4-1"), 0)
        self.assertEqual(sorted(reversed(ordered), key=aptsrc.version_key), ordered)


class Index(unittest.TestCase):
    def test_suite_index_is_read_from_the_private_lists(self):
        with tempfile.TemporaryDirectory() as tmp:
            apt = aptsrc.PrivateApt(root=Path(tmp), uri="http://mirror.invalid/debian",
                                    suites=["experimental"])
            lists = Path(tmp) / "state/lists"
            lists.mkdir(parents=True)
            (lists / "mirror.invalid_debian_dists_experimental_main_binary-amd64_Packages"
             ).write_text((FIXTURES / "packages/experimental").read_text())
            (lists / "mirror.invalid_debian_dists_sid_main_binary-amd64_Packages"
             ).write_text("Package: other\nVersion: 1\n")
            names = [s["package"] for s in apt.index("experimental")]
            self.assertIn("linux-image-7.3-cloud-amd64", names)
            self.assertNotIn("other", names)
            with self.assertRaisesRegex(aptsrc.AptError, "no Packages index for bookworm"):
                apt.index("bookworm")


if __name__ == "__main__":
    unittest.main()

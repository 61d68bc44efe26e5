"""The CI files of ci/: yamllint (Debian's, with ci/.yamllint) is clean, and their job graphs fan
out and back in: shards 1..N each run `ckc vm --shard K/N` and upload their results, and every
shard's (and the host job's) results reach the job that merges, writes JUnit and runs the gate.
The YAML is parsed by Debian's python3-yaml (under /usr/bin/python3, as apt installs it)."""
from __future__ import annotations

import fnmatch
import re
import subprocess
import unittest
from typing import Any

from reports.cli import _parser as report_parser
from reports.expectations import load_expectations
from reports.tests.helpers import REPO
from reports.tests.test_exports import debian_python

GITHUB = REPO / "ci" / "kernel-matrix.yml"
GITLAB = REPO / "ci" / "gitlab-ci.yml"
YAML_TO_JSON = r"""
import json, sys
import yaml
def keys_as_text(node):  # YAML 1.1 reads GitHub's `on:` as the boolean true
    if isinstance(node, dict):
        return {("on" if k is True else str(k)): keys_as_text(v) for k, v in node.items()}
    if isinstance(node, list):
        return [keys_as_text(v) for v in node]
    return node
print(json.dumps(keys_as_text(yaml.safe_load(open(sys.argv[1], encoding="utf-8")))))
"""
REPORT_COMMAND = re.compile(r"\./ckc report (\w+)")


def load_yaml(path: Any) -> Any:
    return debian_python(YAML_TO_JSON, str(path))


def commands_of(steps: list[str]) -> str:
    return "\n".join(steps)


def report_commands(text: str) -> list[str]:
    return REPORT_COMMAND.findall(text)


def known_report_commands() -> set[str]:
    sub = next(a for a in report_parser()._actions if a.dest == "command")
    return set(sub.choices)  # type: ignore[arg-type]


class LintTest(unittest.TestCase):
    def test_yamllint_is_clean(self) -> None:
        try:
            done = subprocess.run(["yamllint", "--strict", "-f", "parsable", "-c",
                                   str(REPO / "ci" / ".yamllint"), str(REPO / "ci")],
                                  capture_output=True, text=True, timeout=120, check=False)
        except FileNotFoundError:
            self.fail("yamllint is missing: `sudo ./ckc test` installs Debian's yamllint")
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)

    def test_the_vm_runner_takes_the_shard_arguments(self) -> None:
        from vm.cli import parse_args, parse_shard

        args = parse_args(["--shard", "3/4", "--out", "out/shard-3", "--jobs", "2", "--bench"])
        self.assertEqual(parse_shard(args.shard), (3, 4))

    def test_expectations_file_loads(self) -> None:
        exp = load_expectations(REPO / "ci" / "expectations.json")
        self.assertIn("CVE-2021-4197", exp.tags_for("cg.open-time-creds"))


class GithubGraphTest(unittest.TestCase):
    def setUp(self) -> None:
        self.doc = load_yaml(GITHUB)
        self.jobs: dict[str, Any] = self.doc["jobs"]
        self.shards = int(self.doc["env"]["SHARDS"])

    def steps(self, job: str, uses: str) -> list[dict[str, Any]]:
        return [s for s in self.jobs[job]["steps"] if str(s.get("uses", "")).startswith(uses)]

    def runs(self, job: str) -> str:
        return commands_of([s["run"] for s in self.jobs[job]["steps"] if "run" in s])

    def shard_job(self) -> str:
        found = [j for j, v in self.jobs.items() if "shard" in v.get("strategy", {}).get(
            "matrix", {})]
        self.assertEqual(len(found), 1, "one job with a `shard` matrix")
        return found[0]

    def test_shards_one_to_n_each_run_one_part(self) -> None:
        job = self.shard_job()
        self.assertGreaterEqual(self.shards, 2)
        self.assertEqual(self.jobs[job]["strategy"]["matrix"]["shard"],
                         list(range(1, self.shards + 1)))
        self.assertIn('--shard "${{ matrix.shard }}/${{ env.SHARDS }}"', self.runs(job))
        self.assertIn('--out "out/shard-${{ matrix.shard }}"', self.runs(job))

    def test_every_artifact_reaches_the_merge_job(self) -> None:
        shard = self.shard_job()
        merger = next(j for j in self.jobs if "./ckc report merge" in self.runs(j))
        needs = self.jobs[merger]["needs"]
        self.assertIn(shard, needs)
        uploads = {}
        for job in self.jobs:
            for step in self.steps(job, "actions/upload-artifact@"):
                if job != merger:
                    uploads[job] = step["with"]
        self.assertEqual(set(uploads), {shard, "host"})
        self.assertTrue(set(uploads) <= set(needs))
        names = [uploads["host"]["name"]] + [
            uploads[shard]["name"].replace("${{ matrix.shard }}", str(k))
            for k in range(1, self.shards + 1)]
        self.assertEqual(len(set(names)), self.shards + 1)
        for k in range(1, self.shards + 1):
            self.assertIn(f"out/shard-{k}/*.json",
                          uploads[shard]["path"].replace("${{ matrix.shard }}", str(k)))
        (download,) = self.steps(merger, "actions/download-artifact@")
        pattern, where = download["with"]["pattern"], download["with"]["path"]
        for name in names:
            self.assertTrue(fnmatch.fnmatchcase(name, pattern), f"{name} not downloaded")
        for command in ("merge", "html", "junit"):
            self.assertRegex(self.runs(merger), rf"\./ckc report {command} {where} ")

    def test_junit_report_and_gate(self) -> None:
        merger = next(j for j in self.jobs if "./ckc report merge" in self.runs(j))
        text = self.runs(merger)
        self.assertIn("./ckc report junit results -o out/junit.xml", text)
        (publish,) = self.steps(merger, "mikepenz/action-junit-report@")
        self.assertEqual(publish["with"]["report_paths"], "out/junit.xml")
        self.assertRegex(text, r"\./ckc report diff ci/baseline\.json out/ckc-compat\.json \\\n"
                         r"\s+--expectations ci/expectations\.json")
        self.assertIn('exit "$rc"', text)
        self.assertLessEqual(set(report_commands(text)), known_report_commands())

    def test_host_job_installs_with_the_readme_command(self) -> None:
        self.assertIn("./ckc --no-vm --out out/host", self.runs("host"))
        self.assertIn("./ckc --no-vm", self.runs(self.shard_job()))


class GitlabGraphTest(unittest.TestCase):
    def setUp(self) -> None:
        self.doc = load_yaml(GITLAB)
        self.shards = int(self.doc["variables"]["SHARDS"])
        self.stages: list[str] = self.doc["stages"]

    def job(self, name: str) -> dict[str, Any]:
        return self.doc[name]

    def script(self, name: str) -> str:
        return commands_of(self.job(name)["script"])

    def test_shards_one_to_n_each_run_one_part(self) -> None:
        (matrix,) = self.job("vm-shard")["parallel"]["matrix"]
        self.assertEqual(matrix["SHARD"], [str(k) for k in range(1, self.shards + 1)])
        self.assertIn('./ckc vm --shard "$SHARD/$SHARDS" --out "out/shard-$SHARD"',
                      self.script("vm-shard"))

    def test_every_artifact_reaches_the_merge_job(self) -> None:
        report = self.job("report")
        needs = {n["job"]: n.get("artifacts", True) for n in report["needs"]}
        self.assertEqual(needs, {"host": True, "vm-shard": True})
        self.assertLess(self.stages.index(self.job("vm-shard")["stage"]),
                        self.stages.index(report["stage"]))
        self.assertLess(self.stages.index(self.job("host")["stage"]),
                        self.stages.index(report["stage"]))
        inputs = re.search(r"\./ckc report merge (.+?) -o", self.script("report"))
        self.assertIsNotNone(inputs)
        assert inputs is not None
        merged = inputs.group(1).split()
        paths = [p.replace("$SHARD", str(k)) for k in range(1, self.shards + 1)
                 for p in self.job("vm-shard")["artifacts"]["paths"]]
        paths += self.job("host")["artifacts"]["paths"]
        self.assertEqual(self.job("vm-shard")["artifacts"]["when"], "always")
        for path in paths:
            self.assertTrue(any(fnmatch.fnmatchcase(path.rstrip("/"), m) for m in merged),
                            f"{path} is not among the merge inputs {merged}")

    def test_junit_report_and_gate(self) -> None:
        report = self.job("report")
        text = self.script("report")
        self.assertEqual(report["artifacts"]["reports"]["junit"], "out/junit.xml")
        self.assertRegex(text, r"\./ckc report junit .* -o out/junit\.xml")
        self.assertRegex(text, r"\./ckc report diff ci/baseline\.json out/ckc-compat\.json \\\n"
                         r"\s+--expectations ci/expectations\.json")
        self.assertLessEqual(set(report_commands(text)), known_report_commands())

    def test_host_job_installs_with_the_readme_command(self) -> None:
        self.assertIn("./ckc --no-vm --out out/host", self.script("host"))
        self.assertIn("./ckc --no-vm", self.script("vm-shard"))


if __name__ == "__main__":
    unittest.main()

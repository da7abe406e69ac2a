"""checkov over the synthesized Terraform JSON: no failed check beyond the justified baseline, and a
custom check that every RDS Proxy requires TLS and IAM authentication.

The baseline accepts a check for the resources it names (construct paths, ``*`` as wildcard), each
entry with its reason: a new resource failing an accepted check is still a finding.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import subprocess

import pytest

from tests.support.paths import ROOT, in_ci

CHECKOV = ROOT / ".tools" / "checkov" / "bin" / "checkov"
CUSTOM_CHECKS = ROOT / "tests" / "checkov"
BASELINE = json.loads((ROOT / "tests" / "checkov_baseline.json").read_text())["accepted"]


@pytest.fixture(scope="session")
def checkov():
    if not CHECKOV.exists():
        reason = "checkov not installed: run `make test-tools`"
        if in_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    return CHECKOV


def scan(checkov, doc: dict, tmp_path) -> dict:
    # checkov's terraform_json parser fails on terraform.required_version (checkov issue #7454).
    doc = json.loads(json.dumps(doc))
    doc.get("terraform", {}).pop("required_version", None)
    (tmp_path / "cdk.tf.json").write_text(json.dumps(doc))
    result = subprocess.run(
        [
            str(checkov),
            "-d",
            str(tmp_path),
            "--framework",
            "terraform_json",
            "--external-checks-dir",
            str(CUSTOM_CHECKS),
            "--skip-download",
            "--compact",
            "--quiet",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = json.loads(result.stdout)
    report = report if isinstance(report, dict) else next(r for r in report if r.get("check_type") == "terraform_json")
    assert report["summary"]["parsing_errors"] == 0, result.stderr[-2000:]
    return report


def construct_paths(doc: dict) -> dict[str, str]:
    """checkov's names for resources ("type.name", "resource.name", "data.name") -> construct paths."""
    paths = {}
    for type_, named in doc.get("resource", {}).items():
        for name, body in named.items():
            paths[f"{type_}.{name}"] = paths[f"resource.{name}"] = body["//"]["metadata"]["path"]
    for named in doc.get("data", {}).values():
        for name, body in named.items():
            paths[f"data.{name}"] = body["//"]["metadata"]["path"]
    return paths


def findings(doc: dict, report: dict) -> list[tuple[str, str]]:
    """(check id, construct path) of every failed check."""
    paths = construct_paths(doc)
    return [(c["check_id"], paths[c["resource"]]) for c in report.get("results", {}).get("failed_checks", [])]


def accepting(check: str, path: str) -> list[tuple[int, str]]:
    """The baseline entries (index, pattern) that accept ``check`` on ``path``."""
    return [
        (index, pattern)
        for index, entry in enumerate(BASELINE)
        if entry["check"] == check
        for pattern in entry["resources"]
        if fnmatch.fnmatchcase(path, pattern)
    ]


@pytest.fixture(scope="module")
def scans(checkov, synth_variant, tmp_path_factory):
    """Every stack of both variants, scanned once: (stack name, doc, report)."""
    results = []
    for variant in ("default", "proxy_only"):
        synth = synth_variant(variant)
        for name in synth.stack_names:
            doc = synth.stack(name).doc
            results.append((name, doc, scan(checkov, doc, tmp_path_factory.mktemp(f"checkov-{variant}-{name}"))))
    return results


def test_no_failed_check_beyond_the_baseline(scans):
    unexplained = sorted({f for _, doc, report in scans for f in findings(doc, report) if not accepting(*f)})
    assert not unexplained
    assert all(report["summary"]["passed"] > 0 for _, _, report in scans)


def test_every_baseline_entry_and_pattern_is_still_needed(scans):
    used = {hit for _, doc, report in scans for f in findings(doc, report) for hit in accepting(*f)}
    stale = [
        (entry["check"], pattern)
        for index, entry in enumerate(BASELINE)
        for pattern in entry["resources"]
        if (index, pattern) not in used
    ]
    assert not stale


def test_a_new_resource_failing_an_accepted_check_is_a_finding(checkov, stack, tmp_path):
    """The baseline accepts CKV_AWS_158 (log groups without a CMK) for the groups it names, not for new ones."""
    doc = copy.deepcopy(stack.doc)
    groups = doc["resource"]["aws_cloudwatch_log_group"]
    name, group = next(iter(groups.items()))
    groups["extra"] = {**group, "name": "/extra", "//": {"metadata": {"path": "rds-proxy-load-test/extra/logs"}}}
    unexplained = [f for f in findings(doc, scan(checkov, doc, tmp_path)) if not accepting(*f)]
    assert ("CKV_AWS_158", "rds-proxy-load-test/extra/logs") in unexplained


def test_no_rds_proxy_fails_the_custom_tls_and_iam_check(checkov, stack, tmp_path_factory):
    # (checkov passes over folders named like tests, so scans go into neutral folder names)
    report = scan(checkov, stack.doc, tmp_path_factory.mktemp("scan"))
    assert not [c for c in report["results"]["failed_checks"] if c["check_id"] == "CKV_TENANTDB_1"]


def test_the_custom_check_fails_a_proxy_without_tls_or_iam(checkov, stack, tmp_path_factory):
    doc = json.loads(json.dumps(stack.doc))
    [proxy] = doc["resource"]["aws_db_proxy"].values()
    proxy["auth"][0]["iam_auth"] = "DISABLED"
    report = scan(checkov, doc, tmp_path_factory.mktemp("scan"))
    failed = [c for c in report["results"]["failed_checks"] if c["check_id"] == "CKV_TENANTDB_1"]
    assert len(failed) == 1  # so the check runs, and passes the real proxies above
    doc["resource"]["aws_db_proxy"][next(iter(doc["resource"]["aws_db_proxy"]))]["auth"][0]["iam_auth"] = "REQUIRED"
    proxy["require_tls"] = False
    report = scan(checkov, doc, tmp_path_factory.mktemp("scan"))
    assert [c["check_id"] for c in report["results"]["failed_checks"]].count("CKV_TENANTDB_1") == 1


def test_every_baseline_entry_has_a_reason_and_names_its_resources():
    assert all(len(entry["reason"]) > 20 and entry["resources"] for entry in BASELINE)
    assert len({entry["check"] for entry in BASELINE}) == len(BASELINE)

"""checkov over the synthesized Terraform JSON: no failed check beyond the justified baseline,
and a custom check that every RDS Proxy requires TLS and IAM authentication."""

from __future__ import annotations

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


@pytest.mark.parametrize("variant", ["default", "proxy_only"])
def test_no_failed_check_beyond_the_baseline(checkov, synth_variant, variant, tmp_path_factory):
    for name in synth_variant(variant).stack_names:
        report = scan(checkov, synth_variant(variant).stack(name).doc, tmp_path_factory.mktemp(f"checkov-{name}"))
        failed = report.get("results", {}).get("failed_checks", [])
        unexplained = sorted({(c["check_id"], c["resource"]) for c in failed if c["check_id"] not in BASELINE})
        assert not unexplained, unexplained
        assert report["summary"]["passed"] > 0


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


def test_every_baseline_entry_has_a_reason():
    assert all(len(reason) > 20 for reason in BASELINE.values())

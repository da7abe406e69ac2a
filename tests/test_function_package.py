"""The functions' package: reproducible, complete, and built from the pinned dependencies."""

import base64
import hashlib
import io
import json
import re
import zipfile

import pytest

from constructs_lib import function_package
from constructs_lib.function_contract import AMAZON_ROOT_CA_FILE, RDS_CA_FILE, runtime_contract
from tests.support.paths import ROOT


def asset(stack, name):
    [path] = [p for p in stack.directory.glob(f"assets/*/*/{name}")]
    return path


def test_code_zip_holds_the_handlers_the_shared_naming_and_the_proxy_trust_store(stack):
    with zipfile.ZipFile(asset(stack, "code.zip")) as archive:
        names = set(archive.namelist())
        assert {"seed_handler.py", "seeding.py", "db.py", "tenant_secrets.py"} <= names
        assert archive.read("constructs_lib/tenancy.py") == (ROOT / "constructs_lib/tenancy.py").read_bytes()
        roots = archive.read(AMAZON_ROOT_CA_FILE).decode()
        assert [f"Amazon Root CA {n}" for n in range(1, 5)] == re.findall(r'Label: "(Amazon Root CA \d)"', roots)
        assert not any(name.endswith(".pyc") for name in names)


def test_source_code_hash_is_the_hash_of_the_packaged_zip(stack):
    for function in stack.resources("aws_lambda_function"):
        digest = hashlib.sha256((stack.directory / function.body["filename"]).read_bytes()).digest()
        assert function.body["source_code_hash"] == base64.b64encode(digest).decode()


def test_zips_are_reproducible(tmp_path):
    files = {"b.py": b"print(2)\n", "a/c.txt": b"x"}
    first = function_package.write_reproducible_zip(files, tmp_path / "one.zip")
    second = function_package.write_reproducible_zip(dict(reversed(files.items())), tmp_path / "two.zip")
    assert first == second
    assert (tmp_path / "one.zip").read_bytes() == (tmp_path / "two.zip").read_bytes()


def test_layer_holds_the_pinned_dependencies_but_not_what_the_runtime_has(stack):
    with zipfile.ZipFile(asset(stack, "dependencies-*.zip")) as archive:
        tops = {name.split("/")[1] for name in archive.namelist()}
    assert {"pymysql", "aws_lambda_powertools", "aws_xray_sdk", "pydantic"} <= tops
    assert not tops & {"boto3", "botocore", "urllib3"}
    assert "pymysql-1.2.4.dist-info" in tops


def test_function_requirements_match_the_lock_file():
    lock = json.loads((ROOT / "Pipfile.lock").read_text())
    locked = {name: spec["version"].lstrip("=") for name, spec in lock["default"].items()}
    for line in (ROOT / "lambda/requirements.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = re.sub(r"\[.*\]", "", line).split("==")
            assert locked[name.lower()] == version, name


def test_rds_ca_bundle_is_packaged_when_set(tmp_path):
    from loadtest.local.tls import make_pki
    from tests.support.synth import synthesize

    pki = make_pki(tmp_path / "pki", ca_name="Amazon RDS us-east-1 Root CA RSA2048 G1", ca_unit="Amazon RDS")
    stack = synthesize(
        tmp_path / "out", {"create_load_test_stack": False, "tenant_count": 1, "rds_ca_bundle": pki.ca_file}
    ).stack()
    with zipfile.ZipFile(io.BytesIO(asset(stack, "code.zip").read_bytes())) as archive:
        assert archive.read(RDS_CA_FILE) == pki.ca_file.read_bytes()


# ---- the access function's Node.js runtime --------------------------------------------------------------


@pytest.fixture(scope="module")
def nodejs_stack(synth_variant):
    return synth_variant("nodejs").stack()


def access_functions(stack):
    return {f.address: f.body for f in stack.resources("aws_lambda_function") if "access_function" in f.address}


def test_the_nodejs_setting_runs_both_access_functions_on_nodejs_with_the_same_environment(nodejs_stack, stack):
    nodejs, python = access_functions(nodejs_stack), access_functions(stack)
    assert sorted(nodejs) == sorted(python) and len(nodejs) == 2  # the same addresses: an in-place update
    for address, body in nodejs.items():
        assert body["runtime"] == function_package.NODEJS_RUNTIME and body["handler"] == "access_handler.handler"
        assert body["environment"] == python[address]["environment"]  # one contract, whichever runtime reads it
        [layer] = body["layers"]
        assert "access-nodejs" in layer
    seeding = [f.body for f in nodejs_stack.resources("aws_lambda_function") if "seeding" in f.address]
    assert seeding and all(body["runtime"] == function_package.RUNTIME for body in seeding)


def test_nodejs_code_zip_holds_the_function_the_contract_and_the_trust_stores_only(nodejs_stack):
    with zipfile.ZipFile(asset(nodejs_stack, "code-nodejs.zip")) as archive:
        names = set(archive.namelist())
        assert json.loads(archive.read("contract.json")) == runtime_contract()
        assert "module.exports = { handler" in archive.read("access_handler.js").decode()
        assert archive.read(AMAZON_ROOT_CA_FILE) == function_package.amazon_root_cas()
    sources = {path.name for path in (ROOT / "lambda" / "nodejs").glob("*.js")}
    assert names == sources | {"contract.json", "package.json", AMAZON_ROOT_CA_FILE, RDS_CA_FILE}


def locked_packages() -> dict[str, str]:
    """What package-lock.json pins for production: install path -> version."""
    lock = json.loads((ROOT / "lambda" / "nodejs" / "package-lock.json").read_text())
    return {path: spec["version"] for path, spec in lock["packages"].items() if path and not spec.get("dev")}


def test_nodejs_layer_holds_exactly_the_locked_packages(nodejs_stack):
    with zipfile.ZipFile(asset(nodejs_stack, "dependencies-nodejs-*.zip")) as archive:
        manifests = {
            name.removeprefix("nodejs/").removesuffix("/package.json"): json.loads(archive.read(name))
            for name in archive.namelist()
            if re.fullmatch(r"nodejs/(node_modules/(@[^/]+/)?[^/@][^/]*/)+package\.json", name)
        }
    installed = {path: manifest["version"] for path, manifest in manifests.items() if path in locked_packages()}
    assert installed == locked_packages()
    direct = json.loads((ROOT / "lambda" / "nodejs" / "package.json").read_text())["dependencies"]
    assert all(re.fullmatch(r"\d+\.\d+\.\d+", version) for version in direct.values())  # exact pins


def test_nodejs_packages_are_rebuilt_byte_for_byte_from_the_lock_file(tmp_path, monkeypatch):
    hashes = []
    for attempt in ("one", "two"):
        monkeypatch.setattr(function_package, "BUILD_DIR", tmp_path / attempt)
        hashes.append(function_package.nodejs_dependencies_zip()[1])
        code = function_package.nodejs_code_files(b"-----BEGIN CERTIFICATE-----\n")
        hashes.append(function_package.write_reproducible_zip(code, tmp_path / attempt / "code.zip"))
    assert hashes[0] == hashes[2] and hashes[1] == hashes[3]

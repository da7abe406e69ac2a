"""The preflight gate: AWS's documented rules, checked offline on the synthesized Terraform JSON.

The emulator accepts almost anything, so "it applies on moto" says little about AWS. This gate reads
what ``cdktf synth`` wrote, fills every Terraform reference with the longest value AWS can give it
(``constructs_lib/terraform_values.py``), and checks sizes, names, ordering and rules against the
limits in ``constructs_lib/aws_rules.py`` (each with its documentation page). ``main.py`` runs it after
every synth, so ``cdktf deploy`` and ``make deploy`` stop before anything reaches AWS.

    pipenv run python -m constructs_lib.preflight [cdktf.out]      (or: make preflight)
"""

from __future__ import annotations

import base64
import datetime
import json
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from constructs_lib import aws_rules as rules
from constructs_lib.endpoints import certificate_names, endpoint_kind, name_matches, tls_server_name
from constructs_lib.function_contract import (
    AMAZON_ROOT_CA_FILE,
    RDS_CA_FILE,
    AccessConfig,
    session_policy,
    session_tags,
)
from constructs_lib.tenancy import Tenant
from constructs_lib.terraform_values import Evaluator, Unresolvable

REFERENCE = re.compile(r"\$\{([^}]*)\}")
RESOURCE_REFERENCE = re.compile(r"(?<![\w.])(data\.)?(aws_[a-z0-9_]+)\.([A-Za-z0-9_-]+)")


@dataclass(frozen=True)
class Finding:
    rule: str
    address: str
    message: str
    source: str

    def __str__(self) -> str:
        return f"[{self.rule}] {self.address}: {self.message} ({self.source})"


@dataclass(frozen=True)
class AccountFacts:
    """What the gate cannot read from the JSON: the account's quotas as settings state them, and today."""

    lambda_concurrency_quota: int = rules.LAMBDA_DEFAULT_CONCURRENCY.value
    rds_proxy_quota: int = rules.PROXIES_PER_ACCOUNT.value
    spot_service_linked_roles_exist: bool = False
    today: datetime.date = field(default_factory=datetime.date.today)


class Stack:
    """One synthesized stack: its resources, evaluated values, and dependency graph."""

    def __init__(self, name: str, doc: Mapping[str, Any]) -> None:
        self.name, self.doc = name, doc
        self.values = Evaluator.for_stack(doc)
        self._dependencies: dict[str, set[str]] | None = None
        # The largest value measured against each limit, and where: the gate's figures.
        self.figures: dict[str, tuple[int, int, str]] = {}

    def measure(self, rule: str, address: str, size: int, limit: rules.Limit, what: str = "") -> Iterator[Finding]:
        """Record ``size`` against ``limit``; a finding if it is above."""
        label = what or limit.what
        if limit.what not in self.figures or size > self.figures[limit.what][0]:
            self.figures[limit.what] = (size, limit.value, address)
        if size > limit.value:
            yield _finding(rule, address, f"{label}: {size:,} > {limit.value:,}", limit)

    def resources(self, type_: str | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
        for rtype, named in self.doc.get("resource", {}).items():
            if type_ in (None, rtype):
                for name, body in named.items():
                    yield f"{rtype}.{name}", body

    def body(self, address: str) -> dict[str, Any]:
        type_, name = address.split(".", 1)
        return self.doc["resource"][type_][name]

    def referenced(self, node: Any) -> set[str]:
        """Addresses of the resources (and data sources) ``node`` refers to."""
        found = set()
        for expression in REFERENCE.findall(json.dumps(node)):
            for data, type_, name in RESOURCE_REFERENCE.findall(expression):
                found.add(f"{'data.' if data else ''}{type_}.{name}")
        return found

    @property
    def dependencies(self) -> dict[str, set[str]]:
        """Direct dependencies of each resource: what it references and what it names in depends_on."""
        if self._dependencies is None:
            graph: dict[str, set[str]] = {}
            locals_ = self.doc.get("locals", {})
            for address, body in self.resources():
                refs = self.referenced({k: v for k, v in body.items() if k not in ("//", "depends_on")})
                refs |= set(body.get("depends_on", []))
                for match in re.finditer(r"local\.([A-Za-z0-9_-]+)", json.dumps(body)):
                    refs |= self.referenced(locals_.get(match.group(1), ""))
                graph[address] = refs
            self._dependencies = graph
        return self._dependencies

    def depends_on(self, address: str, target: str) -> bool:
        seen, todo = set(), [address]
        while todo:
            current = todo.pop()
            for child in self.dependencies.get(current, ()):
                if child == target:
                    return True
                if child not in seen:
                    seen.add(child)
                    todo.append(child)
        return False

    def referring(self, type_: str, attribute_ref: str) -> list[tuple[str, dict[str, Any]]]:
        """Resources of ``type_`` whose body mentions ``attribute_ref`` (e.g. "aws_iam_role.x.id")."""
        needle = "${" + attribute_ref
        return [(a, b) for a, b in self.resources(type_) if needle in json.dumps(b)]


def iam_size(document: str) -> int:
    """Characters as IAM counts them: white space does not count."""
    return len(re.sub(r"\s", "", json.dumps(json.loads(document), separators=(",", ":"))))


Rule = Callable[[Stack, AccountFacts], Iterable[Finding]]
RULES: dict[str, Rule] = {}


def rule(name: str) -> Callable[[Rule], Rule]:
    def register(function: Rule) -> Rule:
        RULES[name] = function
        return function

    return register


def _finding(name: str, address: str, message: str, limit: rules.Limit | str) -> Finding:
    return Finding(name, address, message, limit.source if isinstance(limit, rules.Limit) else limit)


# ---- sizes ------------------------------------------------------------------------------------------


def _role_of(stack: Stack, role_field: str) -> str | None:
    refs = stack.referenced(role_field)
    return next((r for r in refs if r.startswith("aws_iam_role.")), None)


@rule("iam-inline-policies-per-role")
def inline_policies_per_role(stack: Stack, facts: AccountFacts) -> Iterator[Finding]:
    totals: Counter[str] = Counter()
    for _, body in stack.resources("aws_iam_role_policy"):
        role = _role_of(stack, body["role"])
        totals[role or body["role"]] += iam_size(stack.values.string(body["policy"]))
    for role, total in totals.items():
        yield from stack.measure("iam-inline-policies-per-role", role, total, rules.ROLE_INLINE_POLICIES_CHARS)


@rule("iam-managed-policy-size")
def managed_policy_size(stack: Stack, facts: AccountFacts) -> Iterator[Finding]:
    for address, body in stack.resources("aws_iam_policy"):
        yield from stack.measure(
            "iam-managed-policy-size",
            address,
            iam_size(stack.values.string(body["policy"])),
            rules.MANAGED_POLICY_CHARS,
        )


@rule("endpoint-policy-size")
def endpoint_policy_size(stack: Stack, facts: AccountFacts) -> Iterator[Finding]:
    for address, body in stack.resources("aws_vpc_endpoint_policy"):
        size = len(stack.values.string(body["policy"]))
        yield from stack.measure("endpoint-policy-size", address, size, rules.ENDPOINT_POLICY_CHARS)


@rule("iam-trust-policy-size")
def trust_policy_size(stack: Stack, facts: AccountFacts) -> Iterator[Finding]:
    for address, body in stack.resources("aws_iam_role"):
        size = iam_size(stack.values.string(body["assume_role_policy"]))
        yield from stack.measure("iam-trust-policy-size", address, size, rules.TRUST_POLICY_CHARS)


def access_functions(stack: Stack) -> Iterator[tuple[str, dict[str, Any], AccessConfig]]:
    for address, body in stack.resources("aws_lambda_function"):
        env = body.get("environment", {}).get("variables", {})
        if AccessConfig.describes(env):
            yield address, body, AccessConfig.from_environment(stack.values.value(env))


@rule("session-policy-and-tags")
def session_policy_and_tags(stack: Stack, facts: AccountFacts) -> Iterator[Finding]:
    for address, _, config in access_functions(stack):
        tenant = Tenant(config.tenant_count - 1)  # the longest id, on the last shard
        policy = session_policy(tenant, config.target_of(tenant))
        yield from stack.measure(
            "session-policy-and-tags",
            address,
            len(policy),
            rules.SESSION_POLICY_CHARS,
            "session policy sent to AssumeRole",
        )
        tags = session_tags(tenant)
        yield from stack.measure("session-policy-and-tags", address, len(tags), rules.SESSION_TAGS_COUNT)
        for tag in tags:
            yield from stack.measure("session-policy-and-tags", address, len(tag["Key"]), rules.SESSION_TAG_KEY_CHARS)
            yield from stack.measure(
                "session-policy-and-tags", address, len(tag["Value"]), rules.SESSION_TAG_VALUE_CHARS
            )
            for text in (tag["Key"], tag["Value"]):
                if not re.fullmatch(rules.SESSION_TAG_CHARACTERS, text):
                    yield _finding(
                        "session-policy-and-tags",
                        address,
                        f"session tag {text!r} has characters a tag may not hold",
                        rules.SESSION_TAGS,
                    )


@rule("lambda-environment-size")
def lambda_environment_size(stack: Stack, facts: AccountFacts) -> Iterator[Finding]:
    for address, body in stack.resources("aws_lambda_function"):
        env = stack.values.value(body.get("environment", {}).get("variables", {}))
        size = sum(len(key.encode()) + len(str(value).encode()) for key, value in env.items())
        yield from stack.measure("lambda-environment-size", address, size, rules.LAMBDA_ENVIRONMENT_BYTES)


@rule("ec2-user-data-size")
def user_data_size(stack: Stack, facts: AccountFacts) -> Iterator[Finding]:
    for address, body in stack.resources("aws_instance"):
        if "user_data" in body:
            raw = stack.values.string(body["user_data"]).encode()
            yield from stack.measure("ec2-user-data-size", address, len(raw), rules.EC2_USER_DATA_BYTES)
        if "user_data_base64" in body:  # binary (here gzip) user data: its decoded bytes count
            raw = base64.b64decode(stack.values.string(body["user_data_base64"]))
            yield from stack.measure("ec2-user-data-size", address, len(raw), rules.EC2_USER_DATA_BYTES)
    for address, body in stack.resources("aws_launch_template"):
        if "user_data" in body:
            raw = base64.b64decode(stack.values.string(body["user_data"]))
            yield from stack.measure("ec2-user-data-size", address, len(raw), rules.EC2_USER_DATA_BYTES)


@rule("security-group-rules")
def security_group_rules(stack: Stack, facts: AccountFacts) -> Iterator[Finding]:
    for type_, limit in (
        ("aws_vpc_security_group_ingress_rule", rules.SECURITY_GROUP_INBOUND_RULES),
        ("aws_vpc_security_group_egress_rule", rules.SECURITY_GROUP_OUTBOUND_RULES),
    ):
        per_group = Counter(body["security_group_id"] for _, body in stack.resources(type_))
        for group, count in per_group.items():
            address = next(iter(stack.referenced(group)), group)
            yield from stack.measure("security-group-rules", address, count, limit)


@rule("api-limits")
def api_limits(stack: Stack, facts: AccountFacts) -> Iterator[Finding]:
    for address, body in stack.resources("aws_api_gateway_rest_api_policy"):
        yield from stack.measure(
            "api-limits", address, len(stack.values.string(body["policy"])), rules.API_RESOURCE_POLICY_CHARS
        )
    for address, body in stack.resources("aws_api_gateway_stage"):
        for value in stack.values.value(body.get("variables", {})).values():
            yield from stack.measure("api-limits", address, len(value), rules.API_STAGE_VARIABLE_VALUE_CHARS)


@rule("dashboard-limits")
def dashboard_limits(stack: Stack, facts: AccountFacts) -> Iterator[Finding]:
    for address, body in stack.resources("aws_cloudwatch_dashboard"):
        widgets = json.loads(stack.values.string(body["dashboard_body"]))["widgets"]
        yield from stack.measure("dashboard-limits", address, len(widgets), rules.DASHBOARD_WIDGETS)
        total = 0
        for widget in widgets:
            metrics = len(widget.get("properties", {}).get("metrics", []))
            total += metrics
            yield from stack.measure(
                "dashboard-limits",
                address,
                metrics,
                rules.DASHBOARD_METRICS_PER_WIDGET,
                f"metrics in widget {widget['properties'].get('title')!r}",
            )
        yield from stack.measure("dashboard-limits", address, total, rules.DASHBOARD_METRICS)


@rule("rds-proxy-quotas")
def rds_proxy_quotas(stack: Stack, facts: AccountFacts) -> Iterator[Finding]:
    proxies = list(stack.resources("aws_db_proxy"))
    if len(proxies) > facts.rds_proxy_quota:
        yield _finding(
            "rds-proxy-quotas",
            stack.name,
            f"{len(proxies)} RDS proxies > the account's quota of {facts.rds_proxy_quota} (rds_proxy_quota)",
            rules.PROXIES_PER_ACCOUNT,
        )
    for address, body in proxies:
        yield from stack.measure("rds-proxy-quotas", address, len(body.get("auth", [])), rules.SECRETS_PER_PROXY)


# ---- names ------------------------------------------------------------------------------------------


@rule("names")
def names(stack: Stack, facts: AccountFacts) -> Iterator[Finding]:
    for (type_, attribute), name_rule in rules.NAME_RULES.items():
        for address, body in stack.resources(type_):
            if attribute not in body:
                continue
            value = stack.values.string(body[attribute])
            if attribute == "bucket_prefix":  # the provider completes it to a whole bucket name
                check = rules.NAME_RULES[("aws_s3_bucket", "bucket")]
                if not re.fullmatch(check.pattern, value + "0" * 26):
                    yield _finding("names", address, f"{check.what} from prefix {value!r} is invalid", check.source)
            if not name_rule.min_length <= len(value) <= name_rule.max_length:
                yield _finding(
                    "names",
                    address,
                    f"{name_rule.what} {value!r} has {len(value)} characters "
                    f"(allowed {name_rule.min_length}..{name_rule.max_length})",
                    name_rule.source,
                )
            elif not re.fullmatch(name_rule.pattern, value):
                yield _finding(
                    "names",
                    address,
                    f"{name_rule.what} {value!r} has characters or a form AWS refuses",
                    name_rule.source,
                )


# ---- ordering ---------------------------------------------------------------------------------------


@rule("order-proxy-targets")
def proxy_targets_wait_for_instances(stack: Stack, facts: AccountFacts) -> Iterator[Finding]:
    """Provider 5.x retries RegisterDBProxyTargets for 5 minutes only; instances take longer to create."""
    for address, body in stack.resources("aws_db_proxy_target"):
        clusters = {
            r for r in stack.referenced(body.get("db_cluster_identifier", "")) if r.startswith("aws_rds_cluster.")
        }
        for instance, instance_body in stack.resources("aws_rds_cluster_instance"):
            if clusters & stack.referenced(instance_body["cluster_identifier"]) and not stack.depends_on(
                address, instance
            ):
                yield _finding(
                    "order-proxy-targets",
                    address,
                    f"does not wait for {instance}",
                    rules.PROVIDER_PROXY_TARGET,
                )
        if body.get("target_group_name") == "default":
            yield _finding(
                "order-proxy-targets",
                address,
                "names the target group as a literal; reference the default target group resource so it exists first",
                rules.PROVIDER_PROXY_TARGET,
            )


def _role_grants(stack: Stack, role: str) -> list[str]:
    """The inline policies and managed-policy attachments of ``role``."""
    grants = []
    for type_ in ("aws_iam_role_policy", "aws_iam_role_policy_attachment"):
        for address, body in stack.resources(type_):
            if role in stack.referenced(body["role"]):
                grants.append(address)
    return grants


def _vpc_of_function(stack: Stack, body: Mapping[str, Any]) -> str | None:
    for subnet in stack.referenced(body.get("vpc_config", {}).get("subnet_ids", [])):
        return next(iter(stack.referenced(stack.body(subnet)["vpc_id"])), None)
    return None


@rule("order-seeding")
def seeding_waits_for_what_it_uses(stack: Stack, facts: AccountFacts) -> Iterator[Finding]:
    for address, body in stack.resources("aws_lambda_invocation"):
        [function] = [r for r in stack.referenced(body["function_name"]) if r.startswith("aws_lambda_function.")]
        function_body = stack.body(function)
        needs = set(_role_grants(stack, _role_of(stack, function_body["role"]) or ""))
        vpc = _vpc_of_function(stack, function_body)
        needs |= {a for a, b in stack.resources("aws_vpc_endpoint") if vpc and vpc in stack.referenced(b["vpc_id"])}
        env = function_body.get("environment", {}).get("variables", {})
        if env.get("TENANT_AUTH") == "password":
            request = json.loads(body["input"])
            wanted = {
                Tenant(i).secret_name(env["NAME_PREFIX"])
                for i in range(request["first_tenant"], request["last_tenant"] + 1)
            }
            needs |= {a for a, b in stack.resources("aws_secretsmanager_secret") if b["name"] in wanted}
        for missing in sorted(n for n in needs if not stack.depends_on(address, n)):
            yield _finding(
                "order-seeding",
                address,
                f"runs the seeding function without waiting for {missing}",
                rules.INTERFACE_ENDPOINTS if missing.startswith("aws_vpc_endpoint.") else rules.LAMBDA_VPC,
            )


# Resources that hand a role to a service, by the attribute naming it.
ROLE_CONSUMERS = {
    "aws_lambda_function": "role",
    "aws_db_proxy": "role_arn",
    "aws_flow_log": "iam_role_arn",
    "aws_api_gateway_account": "cloudwatch_role_arn",
    "aws_spot_fleet_request": "iam_fleet_role",
    "aws_instance": "iam_instance_profile",
    "aws_launch_template": "iam_instance_profile",
}


@rule("order-roles-before-use")
def roles_exist_before_use(stack: Stack, facts: AccountFacts) -> Iterator[Finding]:
    """A service checks its role's permissions when the resource is created (e.g. Lambda's ENI rights)."""
    for type_, attribute in ROLE_CONSUMERS.items():
        for address, body in stack.resources(type_):
            roles = set()
            for ref in stack.referenced(body.get(attribute, "")):
                if ref.startswith("aws_iam_role."):
                    roles.add(ref)
                elif ref.startswith("aws_iam_instance_profile."):
                    roles |= {r for r in stack.referenced(stack.body(ref)["role"]) if r.startswith("aws_iam_role.")}
            for role in roles:
                for grant in _role_grants(stack, role):
                    if not stack.depends_on(address, grant):
                        yield _finding(
                            "order-roles-before-use",
                            address,
                            f"may be created before {grant} grants {role} its permissions",
                            rules.LAMBDA_VPC,
                        )
            if type_ == "aws_spot_fleet_request" and not facts.spot_service_linked_roles_exist:
                linked = {b["aws_service_name"]: a for a, b in stack.resources("aws_iam_service_linked_role")}
                for service in ("spotfleet.amazonaws.com", "spot.amazonaws.com"):
                    if service not in linked or not stack.depends_on(address, linked[service]):
                        yield _finding(
                            "order-roles-before-use",
                            address,
                            f"needs the service-linked role of {service} first",
                            rules.SPOT_FLEET_PREREQUISITES,
                        )


# ---- rules ------------------------------------------------------------------------------------------


@rule("tls-per-endpoint-kind")
def tls_per_endpoint_kind(stack: Stack, facts: AccountFacts) -> Iterator[Finding]:
    for address, _, config in access_functions(stack):
        for target in config.targets:
            kind = endpoint_kind(target.endpoint)
            wanted_ca = RDS_CA_FILE if kind == "cluster" else AMAZON_ROOT_CA_FILE
            if config.ca_file != wanted_ca:
                yield _finding(
                    "tls-per-endpoint-kind",
                    address,
                    f"verifies {kind} endpoint {target.endpoint} against {config.ca_file}, not {wanted_ca}",
                    rules.RDS_PROXY_TLS,
                )
            server_name = tls_server_name(target.endpoint)
            if not any(name_matches(server_name, name) for name in certificate_names(target.endpoint)):
                yield _finding(
                    "tls-per-endpoint-kind",
                    address,
                    f"checks the certificate of {target.endpoint} "
                    f"for {server_name}, which its certificate "
                    f"({', '.join(certificate_names(target.endpoint))}) does not carry",
                    rules.RDS_PROXY_TLS,
                )


@rule("trust-source-conditions")
def trust_source_conditions(stack: Stack, facts: AccountFacts) -> Iterator[Finding]:
    for address, body in stack.resources("aws_iam_role"):
        for statement in json.loads(stack.values.string(body["assume_role_policy"]))["Statement"]:
            services = statement.get("Principal", {}).get("Service", [])
            keys = {key for pairs in statement.get("Condition", {}).values() for key in pairs}
            source_keys = keys & {"aws:SourceAccount", "aws:SourceArn"}
            for service in [services] if isinstance(services, str) else services:
                short = service.split(".", 1)[0]
                if source_keys and short not in rules.SOURCE_CONDITIONS_DOCUMENTED:
                    yield _finding(
                        "trust-source-conditions",
                        address,
                        f"{service} is not documented to send "
                        f"{', '.join(sorted(source_keys))} when it assumes a role; the role would be "
                        "unusable",
                        rules.SOURCE_ACCOUNT_KEY,
                    )


@rule("aurora-engine-version")
def aurora_engine_version(stack: Stack, facts: AccountFacts) -> Iterator[Finding]:
    for address, body in stack.resources("aws_rds_cluster"):
        problem = rules.engine_version_problem(body["engine_version"], facts.today)
        if problem:
            yield _finding("aurora-engine-version", address, problem, rules.AURORA_MYSQL_CALENDAR)
    for address, body in stack.resources("aws_rds_cluster_instance"):
        if body.get("auto_minor_version_upgrade", True):
            yield _finding(
                "aurora-engine-version",
                address,
                "automatic minor upgrades with a pinned version make "
                "every later plan try to downgrade; the project pins and upgrades deliberately",
                rules.AURORA_LTS,
            )


@rule("lambda-runtime")
def lambda_runtime(stack: Stack, facts: AccountFacts) -> Iterator[Finding]:
    for address, body in stack.resources("aws_lambda_function"):
        problem = rules.lambda_runtime_problem(body["runtime"], facts.today)
        if problem:
            yield _finding("lambda-runtime", address, problem, rules.LAMBDA_RUNTIMES)
    for address, body in stack.resources("aws_lambda_layer_version"):
        for runtime in body.get("compatible_runtimes") or []:
            problem = rules.lambda_runtime_problem(runtime, facts.today)
            if problem:
                yield _finding("lambda-runtime", address, problem, rules.LAMBDA_RUNTIMES)


@rule("lambda-reserved-concurrency")
def reserved_concurrency(stack: Stack, facts: AccountFacts) -> Iterator[Finding]:
    reserved = {
        a: b["reserved_concurrent_executions"]
        for a, b in stack.resources("aws_lambda_function")
        if (b.get("reserved_concurrent_executions") or -1) > 0
    }
    available = facts.lambda_concurrency_quota - rules.LAMBDA_UNRESERVED_FLOOR.value
    if sum(reserved.values()) > available:
        yield _finding(
            "lambda-reserved-concurrency",
            ", ".join(sorted(reserved)),
            f"reserve {sum(reserved.values())} in all, above the {available} an account with "
            f"{facts.lambda_concurrency_quota} concurrent executions may reserve",
            rules.LAMBDA_CONCURRENCY,
        )


# ---- running it -------------------------------------------------------------------------------------


@dataclass
class Result:
    """What the gate found, and the largest figure it measured against each limit, per stack."""

    findings: list[Finding] = field(default_factory=list)
    figures: dict[str, dict[str, tuple[int, int, str]]] = field(default_factory=dict)

    def report(self) -> str:
        if not self.findings:
            return "preflight: every documented AWS limit and rule checked holds"
        lines = [f"preflight: {len(self.findings)} problem(s) AWS would refuse or that would break on AWS:"]
        return "\n".join([*lines, *(f"  - {finding}" for finding in self.findings)])

    def figures_table(self) -> str:
        lines = []
        for stack, figures in self.figures.items():
            lines += [f"{stack}:", f"  {'limit':<72} {'largest':>9} {'of':>9}  where"]
            for what, (size, limit, address) in sorted(figures.items()):
                lines.append(f"  {what:<72} {size:>9,} {limit:>9,}  {address}")
        return "\n".join(lines)


def check_stack(name: str, doc: Mapping[str, Any], facts: AccountFacts, result: Result | None = None) -> Result:
    result = result or Result()
    stack = Stack(name, doc)
    for rule_name, check in RULES.items():
        try:
            result.findings.extend(check(stack, facts))
        except Unresolvable as error:
            result.findings.append(
                Finding(rule_name, name, f"cannot evaluate: {error}", "constructs_lib/terraform_values.py")
            )
    result.figures[name] = stack.figures
    return result


def check_outdir(outdir: Path, facts: AccountFacts) -> Result:
    result = Result()
    for stack_file in sorted(Path(outdir).glob("stacks/*/cdk.tf.json")):
        check_stack(stack_file.parent.name, json.loads(stack_file.read_text()), facts, result)
    return result


def main(argv: list[str] | None = None) -> int:
    import argparse

    from constructs_lib import settings as app_settings

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("outdir", nargs="?", default="cdktf.out", type=Path)
    args = parser.parse_args(argv)
    try:
        settings = app_settings.load([], Path(__file__).resolve().parents[1] / "cdktf.json")
    except app_settings.SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    result = check_outdir(args.outdir, settings.account_facts())
    print(result.figures_table())
    print(result.report(), file=sys.stderr if result.findings else sys.stdout)
    return 1 if result.findings else 0


if __name__ == "__main__":
    sys.exit(main())

"""Evaluate the Terraform expressions of a synthesized stack to values of their real shape and length.

The preflight gate must size what AWS will receive (a policy with its ARNs filled in, user data with
the primary's address) before anything exists. References are replaced by the longest value AWS
can give them (account ids have 12 digits, proxy ids 12 characters, and so on), so a check that passes
here passes on AWS. Only the small part of Terraform's expression language the stacks use is
understood; anything else raises ``Unresolvable`` rather than being guessed.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

ACCOUNT_ID = "123456789012"
# Longest values of their kind (worst case for every size check).
PROXY_DNS_ID = "a" * 12  # proxy-<12>, cluster-<12>: the account's RDS DNS label
PROXY_RESOURCE_ID = "prx-" + "0" * 17
CLUSTER_RESOURCE_ID = "cluster-" + "A" * 26
KEY_ID = "0" * 8 + "-0000-0000-0000-" + "0" * 12
HEX_ID = "0" * 17
IPV4 = "255.255.255.255"
REST_API_ID = "a" * 10
SECRET_SUFFIX = "-AbCdEf"


class Unresolvable(ValueError):
    """An expression the evaluator does not understand; the gate reports it instead of guessing."""


@dataclass(frozen=True)
class Environment:
    """Where the stack is deployed: region and partition are known at synth, the account is not."""

    region: str
    partition: str = "aws"
    dns_suffix: str = "amazonaws.com"

    @staticmethod
    def for_region(region: str) -> Environment:
        if region.startswith("cn-"):
            return Environment(region, "aws-cn", "amazonaws.com.cn")
        if region.startswith("us-gov-"):
            return Environment(region, "aws-us-gov", "amazonaws.com")
        return Environment(region)

    @property
    def reverse_dns_prefix(self) -> str:
        return ".".join(reversed(self.dns_suffix.split(".")))

    def arn(self, service: str, resource: str, *, regional: bool = True) -> str:
        return f"arn:{self.partition}:{service}:{self.region if regional else ''}:{ACCOUNT_ID}:{resource}"

    def rds_host(self, label: str, kind: str) -> str:
        """An RDS DNS name: ``<label>.<kind>-<id>.<region>.rds.<dns suffix>``."""
        return f"{label}.{kind}-{PROXY_DNS_ID}.{self.region}.rds.{self.dns_suffix}"


def _uuid(seed: str) -> str:
    """A UUID-shaped id (AWS's length), distinct per resource so that two of them never look the same."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, seed))


def _attribute_values(env: Environment) -> dict[tuple[str, str], Callable[[dict], Any]]:
    """What each resource attribute the stacks reference looks like, from the resource's own body."""
    return {
        ("aws_iam_role", "arn"): lambda b: env.arn("iam", f"role/{b['name']}", regional=False),
        ("aws_iam_role", "name"): lambda b: b["name"],
        ("aws_iam_role", "id"): lambda b: b["name"],
        ("aws_iam_instance_profile", "name"): lambda b: b["name"],
        ("aws_iam_instance_profile", "arn"): lambda b: env.arn("iam", f"instance-profile/{b['name']}", regional=False),
        ("aws_iam_service_linked_role", "arn"): lambda b: env.arn(
            "iam", f"role/aws-service-role/{b['aws_service_name']}/x", regional=False
        ),
        ("aws_kms_key", "arn"): lambda b: env.arn("kms", f"key/{KEY_ID}"),
        ("aws_kms_key", "key_id"): lambda b: KEY_ID,
        ("aws_secretsmanager_secret", "arn"): lambda b: env.arn("secretsmanager", f"secret:{b['name']}{SECRET_SUFFIX}"),
        ("aws_secretsmanager_secret", "id"): lambda b: env.arn("secretsmanager", f"secret:{b['name']}{SECRET_SUFFIX}"),
        ("aws_cloudwatch_log_group", "arn"): lambda b: env.arn("logs", f"log-group:{b['name']}"),
        ("aws_cloudwatch_log_group", "name"): lambda b: b["name"],
        ("aws_db_proxy", "arn"): lambda b: env.arn("rds", f"db-proxy:{PROXY_RESOURCE_ID}"),
        ("aws_db_proxy", "name"): lambda b: b["name"],
        ("aws_db_proxy", "endpoint"): lambda b: env.rds_host(b["name"], "proxy"),
        ("aws_db_proxy_default_target_group", "name"): lambda b: "default",
        ("aws_db_proxy_endpoint", "endpoint"): lambda b: env.rds_host(
            f"{b['db_proxy_endpoint_name']}.endpoint", "proxy"
        ),
        ("aws_rds_cluster", "endpoint"): lambda b: env.rds_host(b["cluster_identifier"], "cluster"),
        ("aws_rds_cluster", "reader_endpoint"): lambda b: env.rds_host(b["cluster_identifier"], "cluster-ro"),
        ("aws_rds_cluster", "cluster_resource_id"): lambda b: CLUSTER_RESOURCE_ID,
        ("aws_rds_cluster", "cluster_identifier"): lambda b: b["cluster_identifier"],
        ("aws_rds_cluster", "id"): lambda b: b["cluster_identifier"],
        ("aws_rds_cluster", "engine"): lambda b: b["engine"],
        ("aws_rds_cluster", "engine_version"): lambda b: b["engine_version"],
        ("aws_rds_cluster", "db_subnet_group_name"): lambda b: b["db_subnet_group_name"],
        ("aws_rds_cluster", "master_user_secret"): lambda b: [
            {
                "secret_arn": env.arn(
                    "secretsmanager", f"secret:rds!cluster-{_uuid(b['cluster_identifier'])}{SECRET_SUFFIX}"
                )
            }
        ],
        ("aws_rds_cluster_instance", "identifier"): lambda b: b["identifier"],
        ("aws_db_subnet_group", "name"): lambda b: b["name"],
        ("aws_rds_cluster_parameter_group", "name"): lambda b: b["name"],
        ("aws_lambda_function", "function_name"): lambda b: b["function_name"],
        ("aws_lambda_function", "arn"): lambda b: env.arn("lambda", f"function:{b['function_name']}"),
        ("aws_lambda_function", "role"): lambda b: b["role"],
        ("aws_lambda_function", "source_code_hash"): lambda b: b["source_code_hash"],
        ("aws_lambda_layer_version", "arn"): lambda b: env.arn("lambda", f"layer:{b['layer_name']}:1000"),
        ("aws_security_group", "id"): lambda b: f"sg-{HEX_ID}",
        ("aws_subnet", "id"): lambda b: f"subnet-{HEX_ID}",
        ("aws_vpc", "id"): lambda b: f"vpc-{HEX_ID}",
        ("aws_vpc_endpoint", "id"): lambda b: f"vpce-{HEX_ID}",
        ("aws_internet_gateway", "id"): lambda b: f"igw-{HEX_ID}",
        ("aws_nat_gateway", "id"): lambda b: f"nat-{HEX_ID}",
        ("aws_route_table", "id"): lambda b: f"rtb-{HEX_ID}",
        ("aws_eip", "id"): lambda b: f"eipalloc-{HEX_ID}",
        ("aws_eip", "public_ip"): lambda b: IPV4,
        ("aws_instance", "private_ip"): lambda b: IPV4,
        ("aws_instance", "public_ip"): lambda b: IPV4,
        ("aws_launch_template", "id"): lambda b: f"lt-{HEX_ID}",
        ("aws_launch_template", "latest_version"): lambda b: 1_000_000,
        ("aws_s3_bucket", "bucket"): lambda b: b.get("bucket") or b["bucket_prefix"] + "0" * 26,
        ("aws_s3_bucket", "id"): lambda b: b.get("bucket") or b["bucket_prefix"] + "0" * 26,
        ("aws_s3_bucket", "arn"): lambda b: (
            f"arn:{env.partition}:s3:::{b.get('bucket') or b['bucket_prefix'] + '0' * 26}"
        ),
        ("aws_api_gateway_rest_api", "id"): lambda b: REST_API_ID,
        ("aws_api_gateway_rest_api", "name"): lambda b: b["name"],
        ("aws_api_gateway_rest_api", "root_resource_id"): lambda b: REST_API_ID,
        ("aws_api_gateway_rest_api", "execution_arn"): lambda b: env.arn("execute-api", REST_API_ID),
        ("aws_api_gateway_request_validator", "id"): lambda b: "a" * 6,
        ("aws_api_gateway_method", "http_method"): lambda b: b["http_method"],
        ("aws_api_gateway_method", "request_parameters"): lambda b: b.get("request_parameters"),
        ("aws_api_gateway_method", "request_validator_id"): lambda b: "a" * 6,
        ("aws_api_gateway_integration", "uri"): lambda b: b["uri"],
        ("aws_api_gateway_deployment", "id"): lambda b: "a" * 6,
        ("aws_api_gateway_rest_api_policy", "policy"): lambda b: b["policy"],
        ("aws_api_gateway_stage", "stage_name"): lambda b: b["stage_name"],
        ("aws_api_gateway_stage", "invoke_url"): lambda b: (
            f"https://{REST_API_ID}.execute-api.{env.region}.{env.dns_suffix}/{b['stage_name']}"
        ),
        ("aws_cloudwatch_dashboard", "dashboard_name"): lambda b: b["dashboard_name"],
    }


_DATA_VALUES: dict[tuple[str, str], Callable[[Environment], Any]] = {
    ("aws_partition", "partition"): lambda env: env.partition,
    ("aws_partition", "dns_suffix"): lambda env: env.dns_suffix,
    ("aws_partition", "reverse_dns_prefix"): lambda env: env.reverse_dns_prefix,
    ("aws_caller_identity", "account_id"): lambda env: ACCOUNT_ID,
    ("aws_region", "name"): lambda env: env.region,
    ("aws_availability_zones", "names"): lambda env: [f"{env.region}{zone}" for zone in "abcdef"],
    ("aws_ssm_parameter", "value"): lambda env: f"ami-{HEX_ID}",
}


@dataclass
class Evaluator:
    """Evaluates strings of one stack's Terraform JSON."""

    doc: Mapping[str, Any]
    env: Environment
    # Keep references as "${type.name.attr}" text instead of values (to read what a value is made of).
    symbolic: bool = False
    _attributes: dict = field(init=False)

    def __post_init__(self) -> None:
        self._attributes = _attribute_values(self.env)

    @staticmethod
    def for_stack(doc: Mapping[str, Any], symbolic: bool = False) -> Evaluator:
        [provider] = doc["provider"]["aws"]
        return Evaluator(doc, Environment.for_region(provider["region"]), symbolic=symbolic)

    def string(self, text: str) -> str:
        """A JSON string value as AWS will see it (interpolations filled in, ``$${`` unescaped)."""
        value = self.value(text)
        if not isinstance(value, str):
            raise Unresolvable(f"expected a string, got {type(value).__name__}: {text[:80]}")
        return value

    def value(self, node: Any) -> Any:
        """Any JSON node, with every string evaluated as a Terraform template."""
        if isinstance(node, dict):
            return {key: self.value(child) for key, child in node.items()}
        if isinstance(node, list):
            return [self.value(child) for child in node]
        if isinstance(node, str):
            return self._template(node)
        return node

    def reference(self, path: list[str | int]) -> Any:
        if self.symbolic:
            return "${" + ".".join(str(step) for step in path) + "}"
        head = path[0]
        if head == "data":
            type_, name, attribute = path[1], path[2], path[3]
            if name not in self.doc.get("data", {}).get(type_, {}):
                raise Unresolvable(f"no data source data.{type_}.{name}")
            getter = _DATA_VALUES.get((type_, attribute))
            if getter is None:
                raise Unresolvable(f"data.{type_}.*.{attribute}")
            return _index(getter(self.env), path[4:])
        if head == "local":
            expression = self.doc.get("locals", {}).get(path[1])
            if expression is None:
                raise Unresolvable(f"no local {path[1]}")
            return _index(self.value(expression), path[2:])
        if head == "var":
            raise Unresolvable("variables are not used by these stacks")
        type_, name, attribute = path[0], path[1], path[2]
        body = self.doc.get("resource", {}).get(type_, {}).get(name)
        if body is None:
            raise Unresolvable(f"no resource {type_}.{name}")
        getter = self._attributes.get((type_, attribute))
        if getter is None:
            raise Unresolvable(f"{type_}.*.{attribute}")
        return _index(getter({k: v for k, v in body.items() if k != "//"}), path[3:])

    # ---- templates and expressions -----------------------------------------------------------

    def _template(self, text: str) -> Any:
        parts = list(_template_parts(text))
        if len(parts) == 1 and isinstance(parts[0], _Expression):
            return self._expression(parts[0].source)
        return "".join(part if isinstance(part, str) else _text(self._expression(part.source)) for part in parts)

    def _expression(self, source: str) -> Any:
        parser = _Parser(source, self)
        value = parser.expression()
        parser.end()
        return value


@dataclass(frozen=True)
class _Expression:
    source: str


def _template_parts(text: str):
    """Literal text and ``${...}`` expressions of a Terraform template string."""
    i, literal = 0, []
    while i < len(text):
        if text.startswith("$${", i):
            literal.append("${")
            i += 3
        elif text.startswith("%{", i) and not text.startswith("%%{", i):
            raise Unresolvable("template directives are not used by these stacks")
        elif text.startswith("${", i):
            end = _matching_brace(text, i + 2)
            if literal:
                yield "".join(literal)
                literal = []
            yield _Expression(text[i + 2 : end])
            i = end + 1
        else:
            literal.append(text[i])
            i += 1
    if literal:
        yield "".join(literal)


def _matching_brace(text: str, start: int) -> int:
    depth, i, in_string = 1, start, False
    while i < len(text):
        char = text[i]
        if in_string:
            if char == "\\":
                i += 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise Unresolvable(f"unbalanced interpolation: {text[start - 2 : start + 60]}")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    raise Unresolvable(f"cannot interpolate a {type(value).__name__} into a string")


def _index(value: Any, path: list[str | int]) -> Any:
    for step in path:
        try:
            value = value[step]
        except (KeyError, IndexError, TypeError):
            raise Unresolvable(f"cannot index {step!r}") from None
    return value


_TOKEN = re.compile(
    r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<number>\d+(?:\.\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_-]*)'
    r"|(?P<op>==|!=|&&|\|\||[()\[\],.!]))"
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


def _unescape(literal: str, evaluator: Evaluator) -> str:
    out, i = [], 0
    while i < len(literal):
        char = literal[i]
        if char == "\\":
            following = literal[i + 1]
            if following == "u":
                out.append(chr(int(literal[i + 2 : i + 6], 16)))
                i += 6
                continue
            out.append(_ESCAPES[following])
            i += 2
            continue
        out.append(char)
        i += 1
    return evaluator._template("".join(out))  # a quoted template may itself interpolate


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "element": lambda items, index: items[int(index) % len(items)],
    "split": lambda separator, text: text.split(separator),
    "join": lambda separator, items: separator.join(_text(item) for item in items),
    "tostring": _text,
    "base64encode": lambda text: base64.b64encode(text.encode()).decode(),
    "base64gzip": lambda text: base64.b64encode(gzip.compress(text.encode(), mtime=0)).decode(),
    "sha1": lambda text: hashlib.sha1(text.encode()).hexdigest(),  # noqa: S324 (Terraform's sha1)
    "jsonencode": lambda value: json.dumps(value, separators=(",", ":")),
}


class _Parser:
    def __init__(self, source: str, evaluator: Evaluator) -> None:
        self.tokens = self._tokenize(source)
        self.position = 0
        self.evaluator = evaluator

    @staticmethod
    def _tokenize(source: str) -> list[tuple[str, str]]:
        tokens, i = [], 0
        while i < len(source):
            if source[i:].strip() == "":
                break
            match = _TOKEN.match(source, i)
            if not match:
                raise Unresolvable(f"unsupported expression: {source[i : i + 60]}")
            kind = match.lastgroup
            tokens.append((kind, match.group(kind)))
            i = match.end()
        return tokens

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1] != value):
            raise Unresolvable(f"expected {value!r}, got {token}")
        self.position += 1
        return token

    def end(self) -> None:
        if self.peek() is not None:
            raise Unresolvable(f"unexpected {self.peek()}")

    def expression(self) -> Any:
        left = self.primary()
        token = self.peek()
        if token and token[1] in ("==", "!="):
            self.take()
            right = self.primary()
            return (left == right) if token[1] == "==" else (left != right)
        return left

    def primary(self) -> Any:
        kind, text = self.take()
        if kind == "string":
            return _unescape(text[1:-1], self.evaluator)
        if kind == "number":
            return float(text) if "." in text else int(text)
        if text == "[":
            items = []
            while self.peek() and self.peek()[1] != "]":
                items.append(self.expression())
                if self.peek() and self.peek()[1] == ",":
                    self.take(",")
            self.take("]")
            return items
        if text == "(":
            value = self.expression()
            self.take(")")
            return value
        if kind == "name":
            if text in ("true", "false"):
                return text == "true"
            if self.peek() and self.peek()[1] == "(":
                return self.call(text)
            return self.evaluator.reference(self.path(text))
        raise Unresolvable(f"unexpected {text!r}")

    def call(self, name: str) -> Any:
        function = _FUNCTIONS.get(name)
        if function is None:
            raise Unresolvable(f"function {name}() is not understood")
        self.take("(")
        arguments = []
        while self.peek() and self.peek()[1] != ")":
            arguments.append(self.expression())
            if self.peek() and self.peek()[1] == ",":
                self.take(",")
        self.take(")")
        return function(*arguments)

    def path(self, head: str) -> list[str | int]:
        path: list[str | int] = [head]
        while self.peek() and self.peek()[1] in (".", "["):
            if self.take()[1] == ".":
                path.append(self.take()[1])
            else:
                index = self.take()
                path.append(int(index[1]) if index[0] == "number" else index[1][1:-1])
                self.take("]")
        return path

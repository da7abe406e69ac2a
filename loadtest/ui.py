"""Open the Locust web UI of a deployed stack: print its operator's password and forward its port.

    make locust-ui          (needs the AWS CLI with its Session Manager plugin, and the deployed stack)

The UI's port is closed to the internet (unless ``locust_ui_cidr`` names a range): Session Manager
forwards ``localhost:8089`` to the primary through the instance's SSM agent, no SSH and no open port.
The password was made by the primary at its first start and lives only in Secrets Manager.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STACK_DIR = ROOT / "cdktf.out" / "stacks" / "rds-proxy-load-test"
WEB_PORT = 8089
USER = "locust"


def stack_outputs(stack_dir: Path = STACK_DIR) -> dict[str, str]:
    result = subprocess.run(
        ["terraform", f"-chdir={stack_dir}", "output", "-json"], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"cannot read the stack's outputs (deployed, and `make synth` run?):\n{result.stderr}")
    return {name: output["value"] for name, output in json.loads(result.stdout).items()}


def port_forwarding(instance_id: str, region: str, local_port: int = WEB_PORT) -> list[str]:
    parameters = json.dumps({"portNumber": [str(WEB_PORT)], "localPortNumber": [str(local_port)]})
    return [
        "aws", "ssm", "start-session", "--region", region, "--target", instance_id,
        "--document-name", "AWS-StartPortForwardingSession", "--parameters", parameters,
    ]  # fmt: skip


def ui_password(secret_arn: str, region: str) -> str:
    import boto3

    value = boto3.client("secretsmanager", region_name=region).get_secret_value(SecretId=secret_arn)
    return value["SecretString"]


def main() -> int:
    outputs = stack_outputs()
    if "load_test_primary_instance_id" not in outputs:
        raise SystemExit("this deployment has no Locust primary (create_load_test_stack=false?)")
    region = outputs["load_test_ui_secret_arn"].split(":")[3]
    password = ui_password(outputs["load_test_ui_secret_arn"], region)
    print(f"Locust UI: http://localhost:{WEB_PORT}  user {USER}  password {password}", flush=True)
    command = port_forwarding(outputs["load_test_primary_instance_id"], region)
    os.execvp(command[0], command)  # until Ctrl-C
    return 0


if __name__ == "__main__":
    sys.exit(main())

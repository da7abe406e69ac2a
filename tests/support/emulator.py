"""moto's server on 127.0.0.1 (a free port), as an AWS emulator for Terraform, started and stopped here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import boto3

from loadtest.local.processes import free_port, stop_process

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}


@dataclass
class Emulator:
    url: str
    process: subprocess.Popen

    @property
    def environment(self) -> dict[str, str]:
        """What Terraform and boto3 need to talk to the emulator (and nothing else)."""
        return {
            **CREDENTIALS,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.url,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def client(self, service: str):
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def stop(self) -> None:
        stop_process(self.process)


def start_emulator(directory: Path) -> Emulator:
    port = free_port()
    env = {**os.environ, **CREDENTIALS, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}
    log = directory / "moto.log"
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    process = subprocess.Popen(command, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=2).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"moto server did not start: {log.read_text()[-2000:]}") from None
            time.sleep(0.2)
    # No Docker here: functions are created, and invocations echo their input instead of running.
    request = urllib.request.Request(
        f"{url}/moto-api/config",
        data=json.dumps({"lambda": {"use_docker": False}}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(request, timeout=5).close()
    return Emulator(url, process)

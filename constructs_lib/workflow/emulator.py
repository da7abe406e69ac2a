"""moto's server on this machine, started the way Terraform needs it, as a deployment target.

Started right, moto holds AWS's managed policies (the stacks attach some) and creates Lambda functions
without Docker (invocations echo their input). ``make emulator`` runs it in the background on a
stable loopback port, so the main stack's backend configuration (which names the endpoint) stays the
same between runs; ``make emulator-stop`` stops it. Everything the emulator held is gone when it
stops, so a fresh start also removes the emulated state-bootstrap stack's local state, which would
otherwise claim a state bucket that no longer exists.

    python -m constructs_lib.workflow.emulator start [--port 5000]
    python -m constructs_lib.workflow.emulator stop
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from constructs_lib.emulator import EMULATOR_CREDENTIALS, is_loopback_url

ROOT = Path(__file__).resolve().parents[2]
RUN_DIR = ROOT / ".emulator"  # pid file, URL and log of the background emulator
DEFAULT_PORT = 5000  # moto's own default
REGION = "us-east-1"
START_SECONDS = 60


@dataclass
class Emulator:
    url: str
    pid: int
    process: subprocess.Popen | None = None  # when this process started it

    @property
    def environment(self) -> dict[str, str]:
        """What the AWS CLI, boto3 and Terraform need to talk to the emulator (and nothing else)."""
        key, secret = EMULATOR_CREDENTIALS
        return {
            "AWS_ACCESS_KEY_ID": key,
            "AWS_SECRET_ACCESS_KEY": secret,
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": self.url,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def client(self, service: str):
        import boto3

        key, secret = EMULATOR_CREDENTIALS
        return boto3.client(
            service, endpoint_url=self.url, region_name=REGION, aws_access_key_id=key, aws_secret_access_key=secret
        )

    def stop(self) -> None:
        stop_pid(self.pid)
        if self.process is not None:
            self.process.wait(timeout=30)


def start(port: int, log: Path, *, background: bool = False) -> Emulator:
    """Start moto's server on 127.0.0.1:``port``; ``background`` detaches it from this process's session."""
    key, secret = EMULATOR_CREDENTIALS
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": key,
        "AWS_SECRET_ACCESS_KEY": secret,
        "MOTO_IAM_LOAD_MANAGED_POLICIES": "true",
    }
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    process = subprocess.Popen(
        command, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=background
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_SECONDS
    while True:
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=2).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                stop_pid(process.pid)
                raise RuntimeError(f"moto did not start on {url}: {log.read_text()[-2000:]}") from None
            time.sleep(0.2)
    request = urllib.request.Request(
        f"{url}/moto-api/config",
        data=json.dumps({"lambda": {"use_docker": False}}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(request, timeout=5).close()
    return Emulator(url, process.pid, None if background else process)


def stop_pid(pid: int, timeout: float = 30) -> bool:
    """Stop a server by its pid; False if it was not running."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        if _reaped(pid):
            return True
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    return True


def _reaped(pid: int) -> bool:
    try:
        return os.waitpid(pid, os.WNOHANG)[0] == pid
    except ChildProcessError:
        return False


def running(run_dir: Path = RUN_DIR) -> Emulator | None:
    """The background emulator, if one is running."""
    try:
        pid = int((run_dir / "pid").read_text())
        url = (run_dir / "url").read_text().strip()
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    return Emulator(url, pid)


def emulated_bootstrap_state(url: str) -> Path:
    """The emulated state-bootstrap stack's local state file, as the settings name it."""
    from constructs_lib import settings

    environ = {**os.environ, "RDSPROXY_EMULATOR_ENDPOINT": url}
    return settings.load([], ROOT / "cdktf.json", environ).state_bootstrap_path


def emulated_backends(outdir: Path) -> list[Path]:
    """Stacks' backend records (``.terraform/terraform.tfstate``) that point at an emulator on this machine.

    With them gone, the next ``terraform init`` starts afresh instead of stopping at "Backend
    configuration changed" (cdktf cannot pass -reconfigure) when the emulator's port differs.
    """
    found = []
    for record in outdir.glob("stacks/*/.terraform/terraform.tfstate"):
        try:
            endpoints = json.loads(record.read_text())["backend"]["config"].get("endpoints") or {}
        except (ValueError, KeyError, TypeError):
            continue
        if any(isinstance(url, str) and is_loopback_url(url) for url in endpoints.values()):
            found.append(record)
    return found


def start_background(
    port: int, run_dir: Path = RUN_DIR, outdir: Path = ROOT / "cdktf.out"
) -> tuple[Emulator, list[Path]]:
    """``make emulator``: the background emulator (started unless running), and what it forgot.

    A new emulator holds nothing, so what described the previous one goes: the emulated bootstrap
    stack's local state, and the stacks' records of an emulated backend.
    """
    current = running(run_dir)
    if current is not None:
        return current, []
    run_dir.mkdir(exist_ok=True)
    emulator = start(port, run_dir / "moto.log", background=True)
    (run_dir / "pid").write_text(str(emulator.pid))
    (run_dir / "url").write_text(emulator.url)
    stale = [path for path in [emulated_bootstrap_state(emulator.url)] if path.exists()] + emulated_backends(outdir)
    for path in stale:
        path.unlink()
    return emulator, stale


def stop_background(run_dir: Path = RUN_DIR) -> Emulator | None:
    current = running(run_dir)
    if current is not None:
        current.stop()
    for name in ("pid", "url"):
        (run_dir / name).unlink(missing_ok=True)
    return current


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    begin = commands.add_parser("start", help="start moto in the background (unless it runs)")
    begin.add_argument("--port", type=int, default=DEFAULT_PORT)
    commands.add_parser("stop", help="stop the background moto")
    args = parser.parse_args(argv)
    if args.command == "stop":
        stopped = stop_background()
        print(f"stopped the emulator on {stopped.url}" if stopped else "no emulator was running")
        return 0
    try:
        emulator, stale = start_background(args.port)
    except (RuntimeError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for path in stale:
        print(
            f"removed {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: it described a previous emulator"
        )
    print(f"emulator: moto on {emulator.url} (pid {emulator.pid}, log {RUN_DIR / 'moto.log'})")
    print("Point the settings at it (in this shell; nothing else is needed, no AWS credentials):")
    print(f"  export RDSPROXY_EMULATOR_ENDPOINT={emulator.url}")
    print("Stop it, and lose everything it held, with: make emulator-stop")
    return 0


if __name__ == "__main__":
    sys.exit(main())

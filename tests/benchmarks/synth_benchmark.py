"""Synth wall time and peak memory: the app as built versus the same app importing the provider
bindings the standard way (through the package ``__init__``), side by side in one run.

    pipenv run python -m tests.benchmarks.synth_benchmark [--tenants 200 1000 2000] [--repeat 3]

Targets (2-core machine): 200 tenants in <= 8 s and >= 3x faster than the standard import;
2,000 tenants >= 2x faster. Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

from constructs_lib.tenancy import MAX_TENANTS_PER_PROXY
from tests.benchmarks.measure import Measurement, measure
from tests.support.paths import MAIN, QUIET_TOOLS_ENV, ROOT

# The baseline runs the very same main.py after importing the package the usual way; our
# constructs_lib/aws.py then finds it loaded and uses it as is.
STANDARD_IMPORT = (
    "import runpy, sys; import cdktf_cdktf_provider_aws; "
    "sys.argv = [sys.argv[1], *sys.argv[2:]]; runpy.run_path(sys.argv[0], run_name='__main__')"
)


def command(variant: str, tenants: int) -> list[str]:
    share = min(90, 100 // -(-tenants // MAX_TENANTS_PER_PROXY))  # proxies share the cluster's connections
    settings = [
        "--set",
        f"tenant_count={tenants}",
        "--set",
        f"proxy_max_connections_percent={share}",
        "--set",
        f"proxy_max_idle_connections_percent={min(50, share)}",
    ]
    if variant == "as built":
        return [sys.executable, str(MAIN), *settings]
    return [sys.executable, "-c", STANDARD_IMPORT, str(MAIN), *settings]


def run(tenants: int, repeat: int) -> dict[str, Measurement]:
    samples: dict[str, list[Measurement]] = {"as built": [], "standard import": []}
    with tempfile.TemporaryDirectory() as scratch:
        env = {**os.environ, **QUIET_TOOLS_ENV, "CDKTF_OUTDIR": str(Path(scratch) / "out")}
        env = {k: v for k, v in env.items() if not k.startswith("RDSPROXY_")}
        for _ in range(repeat):  # interleaved, so both variants see the same machine state
            for variant in samples:
                samples[variant].append(measure(command(variant, tenants), ROOT, env))
    return {
        variant: Measurement(statistics.median(m.seconds for m in ms), max(m.peak_mb for m in ms))
        for variant, ms in samples.items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, nargs="+", default=[200, 1000, 2000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    print(f"synth benchmark: median of {args.repeat} runs, peak RSS of python + node, {os.cpu_count()} cores")
    print(f"{'tenants':>8} {'built s':>8} {'std s':>8} {'speedup':>8} {'built MB':>9} {'std MB':>8}")
    results = {}
    for tenants in args.tenants:
        result = results[tenants] = run(tenants, args.repeat)
        built, standard = result["as built"], result["standard import"]
        print(
            f"{tenants:>8} {built.seconds:>8.2f} {standard.seconds:>8.2f} {standard.seconds / built.seconds:>7.1f}x"
            f" {built.peak_mb:>9.0f} {standard.peak_mb:>8.0f}",
            flush=True,
        )

    sizes = sorted(results)
    if len(sizes) >= 2:
        low, high = sizes[0], sizes[-1]
        per_tenant = (results[high]["as built"].seconds - results[low]["as built"].seconds) / (high - low)
        print(f"per-tenant synth cost (as built, {low}->{high}): {per_tenant * 1000:.2f} ms/tenant")

    missed = []
    if 200 in results:
        r = results[200]
        if r["as built"].seconds > 8:
            missed.append("200 tenants in <= 8 s")
        if r["standard import"].seconds / r["as built"].seconds < 3:
            missed.append("200 tenants >= 3x faster than the standard import")
    if 2000 in results:
        r = results[2000]
        if r["standard import"].seconds / r["as built"].seconds < 2:
            missed.append("2,000 tenants >= 2x faster than the standard import")
    print("targets:", "all met" if not missed else "MISSED: " + "; ".join(missed))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())

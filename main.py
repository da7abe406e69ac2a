"""Synthesize the multi-tenant RDS Proxy load test from validated settings, then check it offline.

``python main.py [--set setting=value ...]`` (or ``cdktf synth``) writes ``cdktf.out/``. What is built
is in ``constructs_lib/app.py``; AWS's documented limits are checked on what was written
(``constructs_lib/preflight.py``) before anything reaches AWS.
"""

import sys
from pathlib import Path

from constructs_lib import settings as app_settings


def main(argv: list[str]) -> int | str:
    try:
        settings = app_settings.load(argv, Path(__file__).with_name("cdktf.json"))
    except app_settings.SettingsError as error:
        return f"error: {error}"
    # Imported after validation: bad settings fail in a second, before jsii starts.
    from cdktf import App

    from constructs_lib.app import build
    from constructs_lib.preflight import check_outdir

    app = App()
    build(app, settings)
    app.synth()
    preflight = check_outdir(Path(app.outdir), settings.account_facts())
    return preflight.report() if preflight.findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""One instance of the access function, as Lambda runs it: its own process, one event at a time.

    python -m loadtest.local.instance   (started by ``loadtest.local.lambda_pool``, never by hand)

The process starts cold: it imports the handler module and, on its first event, the handler builds
its per-instance state (clients, caches, connections) itself, exactly as on Lambda. Events arrive as
JSON lines on stdin and answers leave as JSON lines on stdout; end of input ends the instance, which
closes what it kept. The only seam: the final database login uses the tenant's native password
(MariaDB cannot check an IAM token), read from the file ``REHEARSAL_PASSWORDS_FILE`` names.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "lambda")]

PASSWORDS_FILE = "REHEARSAL_PASSWORDS_FILE"
STS_ENDPOINT = "REHEARSAL_STS_ENDPOINT"
# The Node.js function's instance (instance.cjs): where its package is unpacked, and the tenants' passwords by id.
NODEJS_FUNCTION = "REHEARSAL_NODEJS_FUNCTION"
NATIVE_PASSWORDS_FILE = "REHEARSAL_NATIVE_PASSWORDS_FILE"
NODEJS_INSTANCE = Path(__file__).with_name("instance.cjs")


def command(environment) -> list[str]:
    """How an instance of the function ``environment`` describes is started: Node.js or Python."""
    if NODEJS_FUNCTION in environment:
        return ["node", str(NODEJS_INSTANCE)]
    return [sys.executable, "-m", "loadtest.local.instance"]


def main() -> int:
    protocol = sys.stdout
    sys.stdout = sys.stderr  # the function's logs must not mix with the answers
    import access_handler
    from tenant_access import sts_client

    from loadtest.local.lambda_context import FakeLambdaContext
    from loadtest.local.standins import MemorySecretStore, NativePasswordAfterIamToken

    store = MemorySecretStore()
    store.values = json.loads(Path(os.environ[PASSWORDS_FILE]).read_text())
    region = os.environ["AWS_REGION"]

    @functools.cache
    def tenant_data():
        config = access_handler.configuration()
        tokens = access_handler.iam_passwords(config, region, sts_client(region, os.environ[STS_ENDPOINT]))
        prefix = os.environ["REHEARSAL_NAME_PREFIX"]
        return access_handler.build_tenant_data(config, NativePasswordAfterIamToken(tokens, store, prefix))

    access_handler.tenant_data = tenant_data
    context = FakeLambdaContext(function_name=os.environ.get("POWERTOOLS_SERVICE_NAME", "access"))
    protocol.write(json.dumps({"ready": os.getpid(), "runtime": "python"}) + "\n")
    protocol.flush()
    try:
        for line in sys.stdin:
            response = access_handler.handler(json.loads(line), context)
            protocol.write(json.dumps(response) + "\n")
            protocol.flush()
    finally:
        if tenant_data.cache_info().currsize:
            tenant_data().close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

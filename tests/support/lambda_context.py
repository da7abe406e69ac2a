"""The Lambda context stand-in, shared with the local rehearsal (one definition)."""

from loadtest.local.lambda_context import FakeLambdaContext

__all__ = ["FakeLambdaContext"]

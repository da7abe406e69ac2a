"""Constructs of the multi-tenant RDS Proxy access layer, one per box of the architecture.

Kept empty on purpose: importing the package must not load the provider bindings, so that
``tenancy`` and ``settings`` stay cheap to import (the Lambda bundle ships ``tenancy``).
"""

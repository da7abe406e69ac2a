"""The two stacks' names: the app creates them, and the Makefile, the workflow tools and the tests name them."""

MAIN_STACK = "rds-proxy-load-test"
BOOTSTRAP_STACK = "state-bootstrap"
STACKS = (BOOTSTRAP_STACK, MAIN_STACK)  # in deployment order: the bootstrap makes the main stack's state bucket

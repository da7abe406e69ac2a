"""The deployment workflow around cdktf: Terraform's provider source and lock file, the local emulator,
plans for review, and tearing down the state bucket. The Makefile's targets call these modules."""

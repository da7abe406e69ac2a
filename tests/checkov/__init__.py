"""Custom checkov checks of this project (checkov loads only packages)."""

"""Benchmark scripts: they print figures measured side by side in one run; they are not tests."""

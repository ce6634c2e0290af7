"""Helpers to run real infrastructure locally: the embedded Tansu broker (demo, tests, benchmarks)."""

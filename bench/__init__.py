"""Benchmarks run by hand; see docs/performance.md for the commands and the figures."""

"""Benchmarks for cxstack's hot paths: `python -m benchmarks.run [--only NAME]`."""

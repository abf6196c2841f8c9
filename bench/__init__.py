"""Benchmarks (not timed tests): imagebot side by side with Renovate. Entry point: `python -m bench.run`."""

"""Benchmarks with targets from the issues. `python -m benchmarks` runs every module here that
exposes `main() -> int`; `python -m benchmarks NAME` runs one. Each prints its measured figures
next to the target and returns non-zero when a target is missed."""

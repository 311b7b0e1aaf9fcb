"""Pipelines: explicit functions that call operations in order, time each step and end with
one table (ci, release, promote)."""

"""Invoke entry point: the namespace lives in the package."""

from shipyard.tasks import namespace as ns  # noqa: F401

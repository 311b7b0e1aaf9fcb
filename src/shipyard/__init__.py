"""shipyard: one chain of composable release tasks, from source to a verified service."""

__version__ = "0.1.0"

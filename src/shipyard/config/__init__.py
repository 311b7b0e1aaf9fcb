"""Configuration: models, loading, merging and validation (pure: files in, models out)."""

from shipyard.config.loader import ENV_VAR_OVERRIDES, find_root, known_environments, load_config
from shipyard.config.model import ShipyardConfig

__all__ = ["ENV_VAR_OVERRIDES", "ShipyardConfig", "find_root", "known_environments", "load_config"]

"""The rollout engine (engine.py) and what it shares with the targets (model.py)."""

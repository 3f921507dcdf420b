"""One collector per module; agent/registry.py lists them all."""

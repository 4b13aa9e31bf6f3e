"""The Lightning-based engine that runs a strategy's phases."""

"""Commands: operate (placeholder until its issue lands)."""

"""Commands: orders (placeholder until its issue lands)."""

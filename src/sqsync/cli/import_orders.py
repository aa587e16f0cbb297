"""Commands: import_orders (placeholder until its issue lands)."""

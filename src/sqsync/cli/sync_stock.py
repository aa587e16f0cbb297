"""Commands: sync_stock (placeholder until its issue lands)."""

"""Commands: stock (placeholder until its issue lands)."""

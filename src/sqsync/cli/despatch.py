"""Commands: despatch (placeholder until its issue lands)."""

"""Commands: emulator (placeholder until its issue lands)."""

"""Chat services (actions that change state) and selectors (read-only queries)."""

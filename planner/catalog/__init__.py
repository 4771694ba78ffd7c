"""The catalog: its strict schema, safe YAML loading and overlays, and look-ups
by id or alias. Imports only planner.core."""

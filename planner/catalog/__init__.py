"""The catalog: its strict schema, safe YAML loading and overlays, look-ups
by id or alias, and the parameter counts an architecture works out to (pure
arithmetic on a model entry, checked against the published counts on load).
Imports only planner.core."""

"""The catalog: its strict schema, safe YAML loading and overlays, look-ups
by id or alias, the parameter counts an architecture works out to (pure
arithmetic on a model entry, checked against the published counts on load),
and the format support matrix's one answer to what runs where (support.py).
Imports only planner.core."""

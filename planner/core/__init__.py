"""Quantities ("13B", "100ms", "80GB", "2k tok/s") and the errors a user can
cause, with their exit codes. The bottom layer: imports nothing from planner."""

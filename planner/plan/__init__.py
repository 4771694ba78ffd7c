"""The plan: the question, every candidate deployment scored, dominance
pruning, the CP-SAT solver, and `fit`. Imports planner.core, planner.catalog
and planner.model."""

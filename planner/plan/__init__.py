"""The plan: the question, every candidate deployment scored, dominance
pruning, the CP-SAT solver, `fit`, and the explanation of an empty
answer (diagnose). Imports planner.core, planner.catalog
and planner.model."""

"""The plan: the question, what may be rented, bought or is owned (offers),
every candidate deployment scored, shapes placed in whole instances and
servers with dominance pruning (placement), the CP-SAT solver, `fit`, and
the explanation of an empty answer (diagnose). Imports planner.core,
planner.catalog and planner.model."""

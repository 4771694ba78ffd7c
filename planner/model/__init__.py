"""The performance model: memory and time per pass,
`predict` for one deployment, and validation against published measurements.
Imports planner.core and planner.catalog."""

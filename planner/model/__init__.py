"""The performance model: model-name resolution, memory and time per pass,
`predict` for one deployment, and validation against published measurements.
Imports planner.core and planner.catalog."""

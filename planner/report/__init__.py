"""Everything that lays out a result: terminal tables, JSON, CSV, Markdown and
HTML design reviews, charts, and atomic output files. Computes no figure of its
own; may re-run `fit` for the review's sensitivity study. Imports planner.core,
planner.catalog, planner.model and planner.plan."""

"""The command line, the top layer: parse flags, build the question, call the
library, render. May import every other subpackage; nothing imports it."""

from planner.cli.app import app, catalog_app, main

__all__ = ["app", "catalog_app", "main"]

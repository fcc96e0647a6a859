"""Pure-Python core: workspace, schemas, importers, splits, statistics. No Qt, no torch."""

"""Reports made by papermill: the municipality report, the citizen sheet and the course summary."""

"""What a server runs beside its RPCs: models and hot swap, caches, the decision log,
background workers, metrics and the supervisor of child processes."""

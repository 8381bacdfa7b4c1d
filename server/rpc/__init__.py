"""The gRPC layer: thin servicers, converters per service, errors, auth, limits, metrics."""

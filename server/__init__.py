"""The gRPC process, in three rooms: transport-free handlers (server/handlers), the gRPC layer
(server/rpc: servicers, converters, errors, auth, limits, metrics) and the runtime
(server/runtime: models and hot swap, caches, decision log, background workers, supervisor)."""

"""Transport-free handlers, one per service: plain Python the gRPC layer calls."""

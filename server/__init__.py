"""The gRPC process: scoring with onnxruntime, model hot swap, assignment, policies, health."""

"""Turns logged data into models: specs, cleaning, families, one-graph ONNX export, registry."""

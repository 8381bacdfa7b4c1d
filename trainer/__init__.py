"""Turns logged data into models: specs, cleaning, model families, one-graph ONNX export, registry."""

"""Servicers: protobuf in, a handler call, protobuf out; nothing else."""

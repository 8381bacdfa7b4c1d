"""Protobuf messages <-> the handlers' transport-free types, per service."""

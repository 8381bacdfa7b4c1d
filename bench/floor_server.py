"""The transport floor: a bare Python gRPC server with only the standard health service, the
same thread pool as ours, no interceptors. `python -m bench.floor_server PORT`."""

from __future__ import annotations

import signal
import sys
import threading
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2_grpc


def main(port: int) -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    health_pb2_grpc.add_HealthServicer_to_server(
        health.HealthServicer(experimental_non_blocking=True), server
    )
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    print(f"floor server on {port}", flush=True)
    while not done.wait(0.25):
        pass
    server.stop(1).wait()


if __name__ == "__main__":
    main(int(sys.argv[1]))

"""The transport floor: a bare Python gRPC server with only the standard health service, the
same thread pool as ours, no interceptors (`python -m bench.floor_server PORT`), or the same
on `grpc.aio`, an asyncio server as MLServer runs (`python -m bench.floor_server PORT aio`)."""

from __future__ import annotations

import asyncio
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


async def main_aio(port: int) -> None:
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    done = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, done.set)
    print(f"aio floor server on {port}", flush=True)
    await done.wait()
    await server.stop(1)


if __name__ == "__main__":
    if sys.argv[2:] == ["aio"]:
        asyncio.run(main_aio(int(sys.argv[1])))
    else:
        main(int(sys.argv[1]))

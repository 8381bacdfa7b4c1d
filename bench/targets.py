"""The issue's targets, checked from the values one run recorded (never by timed tests)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

Values = dict[str, float]


@dataclass(frozen=True)
class Target:
    name: str
    rule: str  # the inequality, in words
    measured: float | None  # the left-hand side as a ratio
    limit: float
    higher_is_better: bool
    note: str = ""

    @property
    def status(self) -> str:
        if self.measured is None:
            return "n/a"
        ok = self.measured >= self.limit if self.higher_is_better else self.measured <= self.limit
        return "PASS" if ok else "MISS"


def _get(v: Values, *keys: str) -> list[float] | None:
    return [v[k] for k in keys] if all(k in v for k in keys) else None


def _p50(v: Values) -> Target:
    got = _get(v, "ours.score_100_p50_ms", "floor.p50_ms", "limit.ort_100_p50_ms")
    ratio = got[0] / (got[1] + got[2]) if got else None
    return Target(
        "Score 1x100 p50",
        "p50 / (floor p50 + in-process ORT p50 at 100 rows)",
        ratio,
        1.3,
        False,
    )


def _p99(v: Values) -> Target:
    got = _get(v, "ours.score_100_p99_ms", "floor.p99_ms")
    return Target(
        "Score 1x100 p99",
        "p99 / floor p99 (one client)",
        got[0] / got[1] if got else None,
        2.5,
        False,
    )


def _peer(v: Values) -> Target:
    got = _get(v, "ours.score_100_pairs_per_s", "peer.pairs_per_s")
    return Target(
        "throughput vs MLServer",
        "our Score 1x100 pairs/s / MLServer V2 100-row pairs/s",
        got[0] / got[1] if got else None,
        5.0,
        True,
        "" if got else "peer not measured",
    )


def _linear(v: Values) -> Target:
    got = _get(v, "scaling.linear_r2")
    return Target(
        "cost linear in candidates",
        "R^2 of a straight-line fit of p50 against candidates",
        got[0] if got else None,
        0.99,
        True,
    )


def _processes(v: Values) -> Target:
    got = _get(
        v,
        "scaling.process_speedup",
        "scaling.processes_2_client_cores",
        "scaling.processes_2_server_cores",
    )
    note = ""
    if got:
        busy = got[1] + got[2]
        cores = os.cpu_count() or 1
        if busy > 0.85 * cores:
            note = (
                f"client and servers together kept {busy:.2f} of {cores} cores busy: the "
                f"machine, with the client ({got[1]:.2f} cores), is the bottleneck"
            )
    return Target(
        "2 processes vs 1",
        "pairs/s with 2 server processes / with 1",
        got[0] if got else None,
        1.6,
        True,
        note,
    )


def _logging(v: Values) -> Target:
    got = _get(v, "decision_log.overhead")
    return Target(
        "decision logging overhead",
        "Score 1x100 p50 with the log on / off - 1",
        got[0] if got else None,
        0.10,
        False,
    )


def _aio(v: Values, key: str) -> float | None:
    """The faster floor: grpc.aio's when measured, else the thread-pool server's."""
    floors = [v[k] for k in (f"floor.aio_{key}", f"floor.{key}") if k in v]
    return min(floors) if floors else None


def _by_id_p50(v: Values) -> Target:
    got = _get(v, "ours.score_id_100_p50_ms", "limit.ort_100_p50_ms")
    floor = _aio(v, "p50_ms")
    return Target(
        "Score by id 1x100 p50",
        "p50 / (faster floor p50 + in-process ORT p50 at 100 rows)",
        got[0] / (floor + got[1]) if got and floor else None,
        1.3,
        False,
        "faster floor of grpc.aio and the thread-pool server",
    )


def _by_id_p99(v: Values) -> Target:
    got = _get(v, "ours.score_id_100_p99_ms")
    floor = _aio(v, "p99_ms")
    return Target(
        "Score by id 1x100 p99",
        "p99 / faster floor p99 (one client)",
        got[0] / floor if got and floor else None,
        2.5,
        False,
    )


def _rest_load(v: Values) -> Target:
    got = _get(v, "rest.rank_errors", "rest.rank_concurrent_calls")
    return Target(
        "REST rank, 200 concurrent callers",
        "failed calls (of all ranks, one client and 200 concurrent)",
        got[0] if got and got[1] else None,
        0.0,
        False,
        "its p50 beside Score's: the rest section's rows",
    )


TARGETS: list[Callable[[Values], Target]] = [
    _p50,
    _p99,
    _by_id_p50,
    _by_id_p99,
    _peer,
    _linear,
    _processes,
    _logging,
    _rest_load,
]


def check(values: Values) -> list[Target]:
    return [t(values) for t in TARGETS]

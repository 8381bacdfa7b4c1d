"""The benchmark's sections, run in the order listed.

A section is a module with ``run(ctx: BenchContext) -> list[Row]``: it starts what it needs
through ``ctx`` (``ctx.shared_server``, ``ctx.server(...)``, ``ctx.latency``/``ctx.throughput``),
returns table rows, and records the numbers targets need with ``ctx.record(section, name=value)``.
A section that cannot run here sets ``ctx.skipped[name] = why`` and returns no rows. To add one,
write the module and add one line below; ``--section NAME`` runs only the named ones.
"""

from __future__ import annotations

from collections.abc import Callable

from bench.context import BenchContext, Row
from bench.sections import (
    decision_log,
    floor,
    limit,
    memory,
    ours,
    peer,
    policy,
    rest,
    scaling,
    store,
)

Section = Callable[[BenchContext], list[Row]]

SECTIONS: dict[str, Section] = {
    "floor": floor.run,
    "limit": limit.run,
    "ours": ours.run,
    "peer": peer.run,
    "scaling": scaling.run,  # after "ours": fits its latencies
    "memory": memory.run,
    "decision_log": decision_log.run,
    "store": store.run,  # ingest and report latency (issue: feedback store at scale)
    "policy": policy.run,  # bandit policies and OPE on the simulated world
    "rest": rest.run,  # the Personalizer-compatible rank beside Score
}

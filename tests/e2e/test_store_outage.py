"""The store becomes unreachable for real (a TCP proxy in front of PostgreSQL is cut) under load:
Score keeps answering from the loaded model while its decisions wait in the decision log's
bounded queue (beyond it Score answers UNAVAILABLE, counted), feedback answers UNAVAILABLE, and
once the database is reachable again everything catches up without operator action: every
decision served during the outage and every acknowledged outcome is in the store."""

from __future__ import annotations

import threading
from pathlib import Path

import grpc
import pytest
from sqlalchemy import make_url, select

from clients.client import CampaignLiftClient, OutcomeEvent
from feedback.models import DecisionRow, OutcomeRow
from feedback.store import Store
from server.runtime.app import start
from tests.conftest import POSTGRES_URL, _postgres_store, promote_new, server_settings
from tests.e2e.helpers import user_request
from tests.e2e.tcp_proxy import TcpProxy

QUEUE = 150


class OutcomeLoad:
    """LogOutcomes in a loop from another client: which events were acknowledged, which
    statuses came back."""

    def __init__(self, target: str) -> None:
        self.acknowledged: set[str] = set()
        self.codes: dict[str, int] = {}
        self._stop = threading.Event()
        self._target = target
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with CampaignLiftClient(self._target, timeout_s=10) as client:
            n = 0
            while not self._stop.is_set():
                events = [OutcomeEvent(f"load-{n}-{i}", f"d-{n}", "click") for i in range(5)]
                n += 1
                try:
                    client.log_outcomes(events)
                    self.acknowledged |= {e.event_id for e in events}
                    code = "OK"
                except grpc.RpcError as err:
                    code = err.code().name
                self.codes[code] = self.codes.get(code, 0) + 1
                self._stop.wait(0.01)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)


def _ids(store: Store, column, ids: set[str]) -> set[str]:  # type: ignore[no-untyped-def]
    with store.transaction() as s:
        return set(s.scalars(select(column).where(column.in_(ids))))


@pytest.mark.postgres
def test_store_outage_under_load_and_recovery(tmp_path: Path, world, trained_logreg) -> None:  # type: ignore[no-untyped-def]
    direct = _postgres_store()
    promote_new(direct, trained_logreg, tmp_path / "artifacts")
    url = make_url(POSTGRES_URL)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    proxy.start()
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    server = start(
        server_settings(direct, tmp_path, database_url=proxied, decision_queue_size=QUEUE)
    )
    target = f"127.0.0.1:{server.port}"
    load = OutcomeLoad(target)
    try:
        with CampaignLiftClient(target, timeout_s=30) as client:
            client.score_batch([user_request(world, i) for i in range(20)])
            assert server.decisions.flush(timeout_s=30)
            while load.codes.get("OK", 0) < 5:  # the load runs before the cut
                load._stop.wait(0.05)

            proxy.cut()
            served = [client.score(user_request(world, i)) for i in range(100)]
            assert all(r.decision.decision_id for r in served)
            assert server.decisions.pending == 100  # waiting for the store, not lost
            with pytest.raises(grpc.RpcError) as err:
                client.log_outcomes(
                    [OutcomeEvent("outage-1", served[0].decision.decision_id, "click")]
                )
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "the store is unavailable" in err.value.details()
            assert proxy.port and str(proxy.port) not in err.value.details()  # no address leaks
            # The queue is bounded: past QUEUE decisions Score refuses instead of growing.
            refused = 0
            for i in range(100, 200):
                try:
                    served.append(client.score(user_request(world, i)))
                except grpc.RpcError as exc:
                    assert exc.code() == grpc.StatusCode.UNAVAILABLE
                    assert "decision log is full" in exc.details()
                    refused += 1
            # (the writer holds the batch it is retrying outside the queue)
            assert refused > 0 and len(served) + refused == 200 and len(served) >= QUEUE
            assert server.decisions.pending == len(served)
            assert server.decisions.refused == refused
            sample = server.metrics.registry.get_sample_value("campaign_lift_decisions_refused")
            assert sample == refused

            proxy.restore()  # the database is back: no restart, no operator
            assert server.decisions.flush(timeout_s=120)
            assert client.log_outcomes(
                [OutcomeEvent("after-1", served[0].decision.decision_id, "click")]
            ) == (1, 0)
            assert client.score(user_request(world, 0)).decision.decision_id
            before_stop = dict(load.codes)
            while load.codes.get("OK", 0) < before_stop.get("OK", 0) + 5:
                load._stop.wait(0.05)
        load.stop()
        decided = {r.decision.decision_id for r in served}
        assert _ids(direct, DecisionRow.decision_id, decided) == decided
        assert set(load.codes) <= {"OK", "UNAVAILABLE"}, load.codes
        assert load.codes.get("UNAVAILABLE", 0) > 0 and load.codes["OK"] > 10, load.codes
        acknowledged = set(load.acknowledged)
        assert _ids(direct, OutcomeRow.event_id, acknowledged) == acknowledged
        assert server.decisions.dropped == 0 and server.decisions.write_failures > 0
    finally:
        load.stop()
        server.stop()
        proxy.cut()
        direct.dispose()

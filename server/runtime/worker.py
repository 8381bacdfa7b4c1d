"""The one background-loop base class of the server: a named daemon thread that runs `step()`
every `interval_s` (or sooner when woken) until stopped. A failed step never ends the loop: a
store outage (our Unavailable and other CampaignLiftErrors) is logged as a warning, a bug with
its traceback, both counted in `errors`; the next step tries again."""

from __future__ import annotations

import logging
import threading

from common.errors import CampaignLiftError

log = logging.getLogger(__name__)


class BackgroundWorker:
    """Subclasses implement `step()`; `interval_s` None waits for `wake()` alone. `stop()` wakes
    the thread, which runs `final()` (e.g. drain a queue) and ends."""

    def __init__(self, name: str, interval_s: float | None) -> None:
        self.name = name
        self.interval_s = interval_s
        self.steps = 0
        self.errors = 0
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def wake(self) -> None:
        """Runs the next step now instead of at the end of the interval."""
        self._wake.set()

    def request_stop(self) -> None:
        """Asks the loop to end (after `final()`), without waiting for it."""
        self._stopping.set()
        self._wake.set()

    def stop(self, timeout_s: float = 10.0) -> None:
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                log.error("%s did not stop within %.0f s", self.name, timeout_s)

    def step(self) -> None:
        raise NotImplementedError

    def final(self) -> None:
        """Runs once when stopped, on the worker's thread; nothing by default."""

    def run_step(self) -> bool:
        """One step with the loop's error handling; False when it failed."""
        try:
            self.step()
        except CampaignLiftError as exc:
            self.errors += 1
            log.warning("%s: %s (trying again later)", self.name, exc.message)
            return False
        except Exception:
            self.errors += 1
            log.exception("%s failed (trying again later)", self.name)
            return False
        self.steps += 1
        return True

    def _loop(self) -> None:
        while True:
            self._wake.wait(self.interval_s)
            self._wake.clear()
            if self._stopping.is_set():
                try:
                    self.final()
                except Exception:
                    log.exception("%s failed while stopping", self.name)
                return
            self.run_step()

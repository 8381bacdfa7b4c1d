"""Console logins: the caller's role token held server-side behind a random session id.

The cookie carries only the session id (HttpOnly, SameSite=Strict, Secure where configured);
every form carries the session's CSRF token, compared in constant time. The role comes from
matching the token against the deployment's role tokens (current and previous), the same
tokens the gRPC server checks when the console calls it with that token."""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field

from common.settings import Settings

COOKIE = "campaign_lift_session"
ADMIN = "admin"
READER = "reader"


def _tokens(current: object, previous: object) -> tuple[str, ...]:
    values = (current.get_secret_value(), previous.get_secret_value())  # type: ignore[attr-defined]
    return tuple(t for t in values if t)


def _matches(token: str, accepted: tuple[str, ...]) -> bool:
    sent = token.encode()
    return any([hmac.compare_digest(sent, t.encode()) for t in accepted])


def role_of(settings: Settings, token: str) -> str | None:
    """ADMIN, READER, or None when the token opens nothing. An empty token is a reader where
    reads are open (no reader token configured)."""
    admin = _tokens(settings.admin_token, settings.admin_previous_token)
    reader = _tokens(settings.reader_token, settings.reader_previous_token)
    if token and _matches(token, admin):
        return ADMIN
    if reader:
        return READER if token and _matches(token, reader) else None
    return READER if not token or not admin else None


@dataclass
class Session:
    id: str
    role: str
    token: str
    actor: str
    csrf: str
    expires_at: float = field(default=0.0)

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN


class Sessions:
    """In the HTTP process's memory: a restart logs everyone out, nothing is written anywhere."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._by_id: dict[str, Session] = {}

    def open(self, role: str, token: str, actor: str) -> Session:
        session = Session(
            secrets.token_urlsafe(32), role, token, actor[:128], secrets.token_urlsafe(32)
        )
        session.expires_at = time.monotonic() + self.ttl_s
        with self._lock:
            self._expire()
            self._by_id[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        now = time.monotonic()
        with self._lock:
            session = self._by_id.get(session_id)
            if session is None or session.expires_at < now:
                self._by_id.pop(session_id, None)
                return None
            session.expires_at = now + self.ttl_s  # sliding: use keeps it alive
            return session

    def close(self, session_id: str | None) -> None:
        with self._lock:
            self._by_id.pop(session_id or "", None)

    def _expire(self) -> None:
        now = time.monotonic()
        for key in [k for k, s in self._by_id.items() if s.expires_at < now]:
            del self._by_id[key]


def csrf_ok(session: Session, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(session.csrf.encode(), str(sent).encode())

"""The console's pages (server-rendered; readable without JavaScript)."""

from __future__ import annotations

from fastapi import FastAPI


def install(app: FastAPI) -> None:
    """Adds the console's routes to `app`."""

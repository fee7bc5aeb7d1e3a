"""Counting the SQL statements a request issues, for the tests that check a page's cost does
not grow with its size or with the project."""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy import event


def count_statements(app, call: Callable[[], object]) -> int:
    """Statements executed on the app's engine while `call` runs, leaving out the server's
    own background threads (reaper, webhook deliverer: named lionlab-...), which share it."""
    seen: list[str] = []

    def count(conn, cursor, statement, *args) -> None:
        if not threading.current_thread().name.startswith("lionlab-"):
            seen.append(statement)

    event.listen(app.state.engine, "before_cursor_execute", count)
    try:
        call()
    finally:
        event.remove(app.state.engine, "before_cursor_execute", count)
    return len(seen)


def freeze_token_cache(monkeypatch, app) -> None:
    """A token cache whose clock stands still: a lookup cached by a warm-up request stays
    cached through the measured ones, however long a loaded machine takes over them."""
    from lionlab_server.api.deps import token_cache

    monkeypatch.setattr(app.state, "token_cache", token_cache(timer=lambda: 0.0))

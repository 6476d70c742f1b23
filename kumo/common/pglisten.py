"""One ``LISTEN`` connection per API process on PostgreSQL: wakes the change feeds'
watchers when another process commits changes (see :mod:`kumo.common.changefeed`).

A daemon thread holds a dedicated psycopg 3 connection (autocommit, outside the
SQLAlchemy pool), ``LISTEN``\\ s on each feed's channel and calls the feed's ``wake()`` for
every notification. It checks the connection with ``SELECT 1`` every
:data:`PING_S` seconds of quiet (it wakes every second to see whether to stop); on any error it reconnects with backoff
(:data:`RETRY_MIN_S` doubling to :data:`RETRY_MAX_S`). Losing the connection and getting
it back both wake every feed ("maybe changed": watchers re-check), and while it is away
:attr:`FeedListener.connected` is false, so the feeds' revision poll stands in.
"""
from __future__ import annotations

import logging
import threading

LOG = logging.getLogger(__name__)

#: Seconds of quiet after which the listener checks its connection with ``SELECT 1``.
PING_S = 10.0
RETRY_MIN_S = 0.5
#: The listener connection's ``application_name`` (seen in ``pg_stat_activity``).
APPLICATION_NAME = "kumo-feed-listener"
RETRY_MAX_S = 10.0


def libpq_url(engine_url) -> str:
    """A libpq connection URL for a SQLAlchemy ``postgresql+psycopg://`` URL."""
    return engine_url.set(drivername="postgresql").render_as_string(hide_password=False)


def payload_hosts(payload: str) -> set[str] | None:
    """The hosts a notification names (:meth:`kumo.common.changefeed.ChangeFeed.wrote`):
    None for ``*`` (everyone), else the comma-separated names (empty: only the
    unfiltered watches)."""
    if payload == "*":
        return None
    return {h for h in payload.split(",") if h}


class FeedListener:
    """``LISTEN`` for ``feeds`` (objects with ``channel`` and ``wake()``) on the
    database at ``url`` (a SQLAlchemy URL). Sets each feed's ``listener`` to itself.
    :meth:`start` is idempotent and cheap (the first waiting watch calls it)."""

    def __init__(self, url, feeds):
        self.url = libpq_url(url)
        self.feeds = {f.channel: f for f in feeds}
        for feed in feeds:
            feed.listener = self
        #: True while the LISTEN connection is up (notifications are being received).
        self.connected = False
        #: Times the connection was (re)established; for tests and status.
        self.connects = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, name="kumo-pg-listen",
                                                daemon=True)
                self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def wake_all(self) -> None:
        for feed in self.feeds.values():
            feed.wake()

    def _run(self) -> None:
        import psycopg

        delay = RETRY_MIN_S
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True, connect_timeout=10,
                                     application_name=APPLICATION_NAME) as conn:
                    for channel in self.feeds:
                        conn.execute(f"LISTEN {channel}")
                    self.connected = True
                    self.connects += 1
                    delay = RETRY_MIN_S
                    self.wake_all()  # commits while we were away: re-check
                    self._listen(conn)
            except Exception as e:  # noqa: BLE001 - reconnect whatever failed
                if not self._stop.is_set():
                    LOG.warning("change feed listener: %s; reconnecting in %.1f s",
                                e, delay)
            finally:
                if self.connected:
                    self.connected = False
                    self.wake_all()  # maybe changed; the feeds' poll takes over
            if self._stop.wait(delay):
                break
            delay = min(delay * 2, RETRY_MAX_S)

    def _listen(self, conn) -> None:
        quiet = 0.0
        while not self._stop.is_set():
            got = False
            for note in conn.notifies(timeout=1.0):
                got = True
                feed = self.feeds.get(note.channel)
                if feed is not None:
                    feed.wake(payload_hosts(note.payload))
            quiet = 0.0 if got else quiet + 1.0
            if quiet >= PING_S:
                conn.execute("SELECT 1")  # a dead connection raises here
                quiet = 0.0

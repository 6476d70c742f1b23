"""The change feed's waiting: a long poll with nothing to answer is a Pending whose
wait() returns on a wake-up from any thread, at shutdown, at its deadline, or when the
safety-net poll sees the revision move; no wake-up is lost between read and wait."""
from __future__ import annotations

import asyncio
import threading
import time
from types import SimpleNamespace

import pytest

from kumo.common import changefeed
from kumo.common.changefeed import ChangeFeed, parse_watch
from kumo.common.exceptions import BadRequest
from kumo.common.http import Pending, Reply


class FakeFeed(ChangeFeed):
    """Reads from a list instead of a database."""

    def __init__(self):
        super().__init__(SimpleNamespace(is_sqlite=True), None, "test", "test_pruned",
                         hostless_to_all=True)
        self.revision = 5
        self.rows: list[dict] = []
        self.reads = 0

    def _read(self, since, host):
        self.reads += 1
        rows = [r for r in self.rows if r["revision"] > since]
        return {"revision": max([since] + [r["revision"] for r in rows]),
                "changes": rows}, self.revision

    def _revision_now(self):
        return self.revision


class Listening:
    connected = True

    def start(self):
        pass


def _settle(pending, limit: int = 20):
    """What the ASGI edge does: await wait(), run then(), until a Reply."""
    async def run():
        reply = pending
        for _ in range(limit):
            if not isinstance(reply, Pending):
                return reply
            await reply.wait()
            reply = await asyncio.to_thread(reply.then)
        raise AssertionError("never answered")
    return asyncio.run(asyncio.wait_for(run(), 30))


def test_nothing_to_answer_is_pending_and_a_commit_from_a_thread_answers_it():
    feed = FakeFeed()
    feed.listener = Listening()
    pending = feed.long_poll(5, "h", 20)
    assert isinstance(pending, Pending)

    def commit():
        time.sleep(0.3)
        feed.rows.append({"revision": 6})
        feed.notify()
    threading.Thread(target=commit).start()
    reply = _settle(pending)
    assert isinstance(reply, Reply) and reply.body["changes"] == [{"revision": 6}]


def test_a_wake_between_read_and_wait_is_not_lost():
    feed = FakeFeed()
    feed.listener = Listening()
    pending = feed.long_poll(5, "h", 20)
    feed.rows.append({"revision": 6})
    feed.wake()  # before the edge awaits: wait() must return at once
    assert _settle(pending).body["changes"] == [{"revision": 6}]


def test_the_deadline_answers_empty_and_close_answers_at_once():
    feed = FakeFeed()
    feed.listener = Listening()
    assert _settle(feed.long_poll(5, "h", 0.2)).body == {"revision": 5, "changes": []}
    pending = feed.long_poll(5, "h", 60)
    threading.Timer(0.2, feed.close).start()
    assert _settle(pending).body["changes"] == []
    assert isinstance(feed.long_poll(5, "h", 60), Reply)  # closed: no more waiting


def test_without_a_listener_the_revision_poll_wakes_watchers(monkeypatch):
    """Another process committed (no local notify, no LISTEN): the poll sees it."""
    monkeypatch.setattr(changefeed, "POLL_S", 0.05)
    feed = FakeFeed()
    pending = feed.long_poll(5, "h", 30)

    def other_process():
        time.sleep(0.3)
        feed.rows.append({"revision": 6})
        feed.revision = 6
    threading.Thread(target=other_process).start()
    assert _settle(pending).body["changes"] == [{"revision": 6}]


@pytest.mark.parametrize("query", [{"since": "abc"}, {"since": "-1"},
                                   {"since": str(2 ** 63)}, {"wait": "1e9"},
                                   {"wait": "nan"}, {"wait": "-0.5"}, {"wait": "x"}])
def test_parse_watch_refuses_garbage(query):
    with pytest.raises(BadRequest):
        parse_watch(query)


def test_parse_watch_defaults_and_range():
    assert parse_watch({}) == (0, 0.0)
    assert parse_watch({"since": "12", "wait": "300"}) == (12, 300.0)

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


def test_a_commit_wakes_only_the_watches_of_the_hosts_it_names():
    """A wake for host a answers a's watch and the unfiltered one; b's watch is not
    woken (it does not re-read) and answers at its deadline; a wake for everyone
    (None) reaches b."""
    feed = FakeFeed()
    feed.listener = Listening()

    async def run():
        polls = {h: feed.long_poll(5, h, 1.5 if h == "b" else 20) for h in ("a", "b", None)}

        async def settle(p):
            reads = 0
            while isinstance(p, Pending):
                await p.wait()
                reads += 1
                p = await asyncio.to_thread(p.then)
            return p, reads
        tasks = {h: asyncio.create_task(settle(p)) for h, p in polls.items()}
        await asyncio.sleep(0.2)  # all three wait
        feed.rows.append({"revision": 6})
        await asyncio.to_thread(feed.notify, {"a"})
        done_a, _ = await tasks["a"]
        done_none, _ = await tasks[None]
        assert not tasks["b"].done()  # not woken
        answer_b, reads_b = await tasks["b"]
        return done_a, done_none, answer_b, reads_b
    done_a, done_none, answer_b, reads_b = asyncio.run(asyncio.wait_for(run(), 30))
    assert done_a.body["changes"] == [{"revision": 6}]
    assert done_none.body["changes"] == [{"revision": 6}]
    assert reads_b == 1  # one re-read, at its deadline: never woken in between
    feed.rows.clear()

    async def everyone():
        pending = feed.long_poll(6, "b", 20)

        async def settle(p):
            while isinstance(p, Pending):
                await p.wait()
                p = await asyncio.to_thread(p.then)
            return p
        waiting = asyncio.create_task(settle(pending))
        await asyncio.sleep(0.2)
        feed.rows.append({"revision": 7})
        await asyncio.to_thread(feed.wake)  # None: every watcher
        return await waiting
    assert asyncio.run(asyncio.wait_for(everyone(), 30)).body["changes"] == [
        {"revision": 7}]

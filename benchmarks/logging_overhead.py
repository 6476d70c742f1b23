#!/usr/bin/env python3
"""What the request id and the access line cost per request (issue 15).

Runs ``kumo.common.access.serve`` around a trivial ASGI app (one 200 with a small
body) ``--count`` times on one event loop, three ways, and prints microseconds per
request: the bare app; ``serve`` with the log at WARNING (id and headers, no line
written); ``serve`` at INFO writing each access line to a temporary file through
Kumo's handler (filter and formatter), as ``kumo up --log-file`` does.

    .venv/bin/python benchmarks/logging_overhead.py [--count 50000]
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time
from pathlib import Path

from kumo.common import access, log

SCOPE = {"type": "http", "method": "GET", "path": "/networking/v2.0/networks",
         "raw_path": b"/networking/v2.0/networks", "query_string": b"limit=1",
         "headers": [(b"host", b"127.0.0.1:5000"), (b"x-auth-token", b"x" * 180)],
         "http_version": "1.1", "client": ("127.0.0.1", 40000)}
HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"20")]


async def app(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": b'{"networks": [], "x"}'})


async def receive():
    return {"type": "http.request", "body": b""}


async def send(message):
    pass


async def run(count: int, wrapped: bool) -> float:
    start = time.perf_counter()
    for _ in range(count):
        if wrapped:
            await access.serve(app, SCOPE, receive, send)
        else:
            await app(SCOPE, receive, send)
    return (time.perf_counter() - start) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "kumo.log"
        log.setup("WARNING", log_file=path)
        bare = asyncio.run(run(args.count, False))
        quiet = asyncio.run(run(args.count, True))
        log.setup("INFO", log_file=path)
        logged = asyncio.run(run(args.count, True))
        lines = sum(1 for _ in path.open())
    print(f"requests: {args.count}")
    print(f"bare app:                       {bare:7.1f} us/request")
    print(f"request id + headers (WARNING): {quiet:7.1f} us/request")
    print(f"+ access line to a file (INFO): {logged:7.1f} us/request ({lines} lines)")


if __name__ == "__main__":
    main()

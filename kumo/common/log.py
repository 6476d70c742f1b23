"""Logging as OpenStack services log: request ids on every line, one access line per
request, a log file or stderr.

Every line has oslo.log's shape::

    2026-12-05 20:40:01.123 1234 INFO kumo.access [req-<uuid> <user> <project>] "GET
    /networking/v2.0/networks HTTP/1.1" status: 200 len: 123 time: 0.0123

The bracket is the request being served (``[-]`` outside requests, ``-`` for an
unauthenticated caller; a valid incoming ``X-OpenStack-Request-ID`` is appended as
``global=req-...``). It comes from :data:`CURRENT`, a context variable holding the
request's :class:`LogContext`: the ASGI edge sets it per request (:func:`bind`), the
worker thread running ``Service.dispatch`` sees the same object (anyio copies the
context into it) and fills in the user and project once the token is validated, so the
access line written back on the event loop carries them too. A traceback is written
with every line prefixed like its first one (as oslo.log's
``logging_exception_prefix``), so grepping a request id finds the whole traceback.

We do not use oslo.log itself: it needs oslo.config and finds the request context in
a thread-local, while one event-loop thread of Kumo serves many requests at once.
"""
from __future__ import annotations

import contextvars
import logging
import os
import re
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

#: A request id as OpenStack makes them: ``req-`` and a UUID (any version, lower case).
REQUEST_ID = re.compile(
    r"^req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

#: oslo.log's default ``logging_context_format_string`` (less its ``%(instance)s``).
FORMAT = "%(asctime)s.%(msecs)03d %(process)d %(levelname)s %(name)s %(context)s " \
         "%(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


def new_request_id() -> str:
    """A fresh ``req-<uuid4>``."""
    return "req-" + str(uuid.uuid4())


def global_request_id(value: str | None) -> str | None:
    """An incoming ``X-OpenStack-Request-ID`` if it is a well-formed request id (as
    oslo.middleware accepts it: logged alongside ours, never replacing it), else
    None."""
    if value and REQUEST_ID.match(value.strip().lower()):
        return value.strip().lower()
    return None


@dataclass
class LogContext:
    """Who a log line is about: the request id, the caller's global request id, user
    and project (None until known)."""

    request_id: str
    global_request_id: str | None = None
    user_id: str | None = None
    project_id: str | None = None

    def text(self) -> str:
        """The bracket of a log line: ``[req-... user project]``."""
        out = f"[{self.request_id} {self.user_id or '-'} {self.project_id or '-'}"
        if self.global_request_id:
            out += f" global={self.global_request_id}"
        return out + "]"


#: The request the current task or thread serves (None outside requests).
CURRENT: contextvars.ContextVar[LogContext | None] = contextvars.ContextVar(
    "kumo_log_context", default=None)


def current() -> LogContext | None:
    return CURRENT.get()


def bind(request_id: str, global_id: str | None = None) -> contextvars.Token:
    """Make a new :class:`LogContext` current (until ``CURRENT.reset(token)``)."""
    return CURRENT.set(LogContext(request_id, global_id))


class ContextFilter(logging.Filter):
    """Adds ``record.context`` (the ``[req-... user project]`` bracket) and
    ``record.request_id`` to every record, unless the caller passed them in
    ``extra``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "context"):
            ctx = CURRENT.get()
            record.context = ctx.text() if ctx is not None else "[-]"
            if not hasattr(record, "request_id"):
                record.request_id = ctx.request_id if ctx is not None else None
        return True


#: Control characters other than line breaks and tab (ESC, NUL, DEL...).
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1b\x1f\x7f]")


def _escape(m: re.Match) -> str:
    return repr(m.group())[1:-1]


class Formatter(logging.Formatter):
    """oslo.log's line format; each line of a traceback carries the record's prefix
    (time, pid, level, logger, request bracket)."""

    def __init__(self):
        super().__init__(FORMAT, DATE_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "context"):
            ContextFilter().filter(record)
        # A message may hold text from the request (a percent-decoded path, an id):
        # its line breaks continue the record under its prefix, never start a line
        # of their own, and other control characters are escaped.
        lines = _CONTROL.sub(_escape, record.getMessage()).splitlines() or [""]
        record.message = lines[0]
        record.asctime = self.formatTime(record, self.datefmt)
        text = self.formatMessage(record)
        extra = lines[1:]
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = self.formatException(record.exc_info)
            extra.append(record.exc_text)
        if record.stack_info:
            extra.append(self.formatStack(record.stack_info))
        if not extra:
            return text
        prefix = (f"{record.asctime}.{int(record.msecs):03d} {record.process} "
                  f"{record.levelname} {record.name} {record.context} ")
        lines = "\n".join(extra).rstrip("\n").splitlines()
        return text + "".join("\n" + prefix + line for line in lines)


#: Loggers of libraries that talk too much at INFO for a service log.
QUIET = {"alembic": logging.WARNING, "uvicorn": logging.WARNING,
         "httpx": logging.WARNING, "httpcore": logging.WARNING,
         "stevedore": logging.WARNING, "pyroute2": logging.WARNING}


def open_log_file(path: str | Path):
    """Open ``path`` for appending, created 0600 (its directory, if made, 0700)."""
    path = Path(path).expanduser()
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
        path.parent.chmod(0o700)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "a", buffering=1, encoding="utf-8", errors="backslashreplace")


def setup(level: int | str = logging.INFO, log_file: str | Path | None = None,
          debug: bool = False) -> logging.Handler:
    """Configure the root logger: one handler (``log_file`` if given, else stderr)
    with :class:`ContextFilter` and :class:`Formatter`, at ``level`` (DEBUG when
    ``debug``). Replaces handlers an earlier call installed. Returns the handler."""
    if debug:
        level = logging.DEBUG
    if isinstance(level, str):
        level = logging.getLevelName(level.upper())
        if not isinstance(level, int):
            level = logging.INFO
    if log_file is not None:
        handler: logging.Handler = logging.StreamHandler(open_log_file(log_file))
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ContextFilter())
    handler.setFormatter(Formatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        if getattr(old, "kumo_file", False):
            old.stream.close()
    handler.kumo_file = log_file is not None
    root.addHandler(handler)
    root.setLevel(level)
    for name, quiet in QUIET.items():
        logging.getLogger(name).setLevel(logging.DEBUG if debug else max(quiet, level))
    return handler

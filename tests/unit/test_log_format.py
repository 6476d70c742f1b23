"""The log's format and plumbing (kumo.common.log, kumo.common.access, the dispatch's
lines): oslo.log-shaped lines with the request id, user and project; tracebacks whose
every line carries the request id; a 500 from a raising handler; access lines; the
``--log-file``/``--debug`` options."""
from __future__ import annotations

import asyncio
import io
import logging
import re
import stat
import uuid

import pytest
from starlette.datastructures import Headers, QueryParams

from kumo import cli
from kumo.common import access, log
from kumo.common.context import RequestContext
from kumo.common.http import Reply, Request, Service, keystone_fault

LINE = re.compile(r"^(?P<date>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) (?P<pid>\d+) "
                  r"(?P<level>[A-Z]+) (?P<name>\S+) (?P<ctx>\[[^\]]*\]) (?P<msg>.*)$")
REQ = r"req-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"


@pytest.fixture
def captured():
    """The text Kumo's loggers write through Kumo's filter and formatter, at DEBUG."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(lambda record: record.name.startswith("kumo"))
    handler.addFilter(log.ContextFilter())
    handler.setFormatter(log.Formatter())
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(old)


def lines(stream) -> list[str]:
    return stream.getvalue().splitlines()


def test_line_outside_a_request_has_an_empty_context(captured):
    logging.getLogger("kumo.test").warning("disk %s is %d%% full", "sda", 93)
    (line,) = lines(captured)
    m = LINE.match(line)
    assert m, line
    assert m["level"] == "WARNING" and m["name"] == "kumo.test" and m["ctx"] == "[-]"
    assert m["msg"] == "disk sda is 93% full"


def test_line_in_a_request_carries_id_user_and_project(captured):
    token = log.bind("req-" + str(uuid.uuid4()), "req-" + str(uuid.uuid4()))
    try:
        ctx = log.current()
        ctx.user_id, ctx.project_id = "u1", "p1"
        logging.getLogger("kumo.test").info("hello")
    finally:
        log.CURRENT.reset(token)
    (line,) = lines(captured)
    m = LINE.match(line)
    assert re.fullmatch(rf"\[{REQ} u1 p1 global={REQ}\]", m["ctx"]), m["ctx"]
    assert m["ctx"].startswith(f"[{ctx.request_id} ")
    assert log.current() is None


def test_every_traceback_line_carries_the_request_id(captured):
    token = log.bind(log.new_request_id())
    rid = log.current().request_id
    try:
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("kumo.test").exception("it failed")
    finally:
        log.CURRENT.reset(token)
    out = lines(captured)
    assert len(out) >= 4  # the message, "Traceback", a frame..., "ValueError: boom"
    for line in out:
        m = LINE.match(line)
        assert m and m["level"] == "ERROR" and m["ctx"] == f"[{rid} - -]", line
    assert out[1].endswith("Traceback (most recent call last):")
    assert out[-1].endswith("ValueError: boom")


def test_global_request_id_is_accepted_only_well_formed():
    good = "req-" + str(uuid.uuid4())
    assert log.global_request_id(good) == good
    assert log.global_request_id(good.upper().replace("REQ-", "req-")) == good
    for bad in (None, "", "req-1", str(uuid.uuid4()), good + "x", "req-" + "g" * 36,
                good + "\nFAKE LINE"):
        assert log.global_request_id(bad) is None, bad


def _service(handler, user=None, project=None):
    service = Service("t", "/t", keystone_fault)
    service.route("GET", "/x")(handler)
    service.authenticate = lambda req, required: RequestContext(
        user_id=user, project_id=project, request_id=req.request_id)
    return service


def _request(path="/x", headers=None):
    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return Request("GET", path, QueryParams(b""), Headers(raw=raw), b"", "http://h/t")


def test_handler_raising_is_500_logged_at_error_with_traceback_and_ids(captured):
    def handler(req):
        raise ZeroDivisionError("division by zero in a handler")
    req = _request()
    reply = _service(handler, "u1", "p1").dispatch(req)
    assert reply.status == 500
    assert reply.body["error"]["code"] == 500
    rid = reply.headers["x-openstack-request-id"]
    assert rid == req.request_id and re.fullmatch(REQ, rid)
    out = lines(captured)
    first = LINE.match(out[0])
    assert first["level"] == "ERROR" and first["name"] == "kumo.common.http"
    assert first["ctx"] == f"[{rid} u1 p1]"
    assert "GET /t/x failed: unexpected error: ZeroDivisionError" in first["msg"]
    assert any(line.endswith("Traceback (most recent call last):") for line in out)
    assert out[-1].endswith("ZeroDivisionError: division by zero in a handler")
    assert all(f"[{rid} u1 p1]" in line for line in out)


def test_fault_is_an_info_line_with_the_message(captured):
    def handler(req):
        return Reply(200, {})
    reply = _service(handler, "u1", "p1").dispatch(_request("/nothing"))
    assert reply.status == 404
    (line,) = lines(captured)
    m = LINE.match(line)
    assert m["level"] == "INFO"
    assert m["msg"] == "GET /t/nothing failed: 404 Not Found: The resource could not be " \
                       "found."


def test_incoming_request_id_is_global_not_ours():
    theirs = "req-" + str(uuid.uuid4())
    req = _request(headers={"X-OpenStack-Request-ID": theirs})
    assert req.global_request_id == theirs and req.request_id != theirs
    reply = _service(lambda r: Reply(200, {})).dispatch(req)
    assert reply.headers["x-openstack-request-id"] == req.request_id


# -- the edge: kumo.common.access ------------------------------------------------------
def _serve(app, path="/t/x", headers=()):
    scope = {"type": "http", "method": "GET", "path": path, "raw_path": path.encode(),
             "query_string": b"a=1", "headers": list(headers), "http_version": "1.1",
             "client": ("127.0.0.1", 4242)}
    sent = []

    async def receive():
        return {"type": "http.request", "body": b""}

    async def send(message):
        sent.append(message)
    asyncio.run(access.serve(app, scope, receive, send,
                             ("x-openstack-request-id", "x-compute-request-id")))
    return sent


def test_access_line_and_id_headers_for_any_response(captured):
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 414, "headers": []})
        await send({"type": "http.response.body", "body": b"12345"})
    sent = _serve(app)
    headers = dict(sent[0]["headers"])
    rid = headers[b"x-openstack-request-id"].decode()
    assert re.fullmatch(REQ, rid) and headers[b"x-compute-request-id"].decode() == rid
    (line,) = lines(captured)
    m = LINE.match(line)
    assert m["level"] == "INFO" and m["name"] == "kumo.access" and m["ctx"] == \
        f"[{rid} - -]"
    assert re.fullmatch(r'127\.0\.0\.1 "GET /t/x\?a=1 HTTP/1\.1" status: 414 len: 5 '
                        r"time: \d+\.\d{4}", m["msg"]), m["msg"]


def test_access_line_of_agents_routes_is_debug_unless_failed(captured):
    async def ok(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})
    _serve(ok, "/compute/kumo/v1/changes")
    assert LINE.match(lines(captured)[0])["level"] == "DEBUG"

    async def gone(scope, receive, send):
        await send({"type": "http.response.start", "status": 410, "headers": []})
        await send({"type": "http.response.body", "body": b""})
    _serve(gone, "/compute/kumo/v1/changes")
    assert LINE.match(lines(captured)[1])["level"] == "INFO"


def test_app_raising_is_logged_and_answered_500(captured):
    async def app(scope, receive, send):
        raise RuntimeError("edge bug")
    sent = _serve(app)
    assert sent[0]["status"] == 500
    rid = dict(sent[0]["headers"])[b"x-openstack-request-id"].decode()
    out = lines(captured)
    assert LINE.match(out[0])["level"] == "ERROR" and f"[{rid} - -]" in out[0]
    assert out[-1].endswith(f"status: 500 len: {len(sent[1]['body'])} time: " +
                            out[-1].rsplit("time: ", 1)[1])
    assert any("RuntimeError: edge bug" in line for line in out)


def test_client_gone_before_any_response_is_499(captured):
    async def app(scope, receive, send):
        return None
    assert _serve(app) == []
    assert "status: 499 len: 0" in lines(captured)[0]


def test_log_injection_through_the_path_is_escaped(captured):
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})
    _serve(app, "/t/x\n2026-01-01 00:00:00.000 1 ERROR fake [-] forged")
    assert len(lines(captured)) == 1


def test_a_line_break_in_a_logged_message_cannot_forge_a_line(captured):
    """Dispatch's fault line holds the percent-decoded path (``%0a`` is a newline):
    every line written carries the request's own prefix, control characters are
    escaped."""
    def handler(req):
        return Reply(200, {})
    forged = "2026-01-01 00:00:00.000 1 ERROR fake [-] forged"
    reply = _service(handler, "u1", "p1").dispatch(_request("/x\n" + forged + "\x1b[2J"))
    assert reply.status == 404
    rid = reply.headers["x-openstack-request-id"]
    out = lines(captured)
    assert len(out) == 2
    for line in out:
        m = LINE.match(line)
        assert m and m["level"] == "INFO" and m["ctx"] == f"[{rid} - -]", line
    assert "\x1b" not in captured.getvalue() and "\\x1b[2J" in out[1]


# -- --log-file and --debug --------------------------------------------------------------
@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
        if getattr(h, "kumo_file", False):
            h.stream.close()
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)


@pytest.mark.parametrize("command", ["up", "api", "agent"])
def test_log_file_is_0600_in_a_0700_directory(tmp_path, monkeypatch, restore_logging,
                                              command):
    def fake(args):
        logging.getLogger("kumo.test").debug("debug line")
        logging.getLogger("kumo.test").info("info line")
        return 0
    monkeypatch.setattr(cli, f"cmd_{command}", fake)
    monkeypatch.delenv("KUMO_LOG_LEVEL", raising=False)
    path = tmp_path / "logs" / "deeper" / "kumo.log"
    assert cli.main(["--state-dir", str(tmp_path / "state"), command, "--log-file",
                     str(path)]) == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    text = path.read_text()
    assert "INFO kumo.test [-] info line" in text and "debug line" not in text
    # --debug: DEBUG lines too; the file is appended to
    assert cli.main(["--state-dir", str(tmp_path / "state"), command, "--log-file",
                     str(path), "--debug"]) == 0
    text = path.read_text()
    assert text.count("info line") == 2 and "DEBUG kumo.test [-] debug line" in text


def test_existing_log_file_is_made_0600(tmp_path, restore_logging):
    path = tmp_path / "kumo.log"
    path.write_text("old\n")
    path.chmod(0o644)
    log.setup("INFO", log_file=path)
    logging.getLogger("kumo.test").info("new")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().startswith("old\n")

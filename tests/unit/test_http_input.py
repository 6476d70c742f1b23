"""The shared request layer refuses bad input with a 400 in the service's fault format:
JSON too deep, NaN/Infinity, lone surrogates, and exceptions that bad input raises deep
down (RecursionError, OverflowError, the database's DataError)."""
from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
import sqlalchemy.exc as sa_exc
from starlette.datastructures import Headers, QueryParams

from kumo.common import exceptions as exc
from kumo.common.http import (MAX_JSON_DEPTH, Reply, Request, Service, input_error,
                              keystone_fault, parse_json)


def _bad(body) -> str:
    with pytest.raises(exc.ValidationError) as info:
        parse_json(body)
    return info.value.message


def test_depth_limit_counts_brackets_outside_strings():
    ok = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert parse_json(ok.encode()) is not None
    assert "nested deeper" in _bad("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1))
    assert "nested deeper" in _bad('{"a":' * 5000 + "1" + "}" * 5000)
    # Brackets inside strings (even with escaped quotes) are not nesting.
    text = json.dumps({"name": '\\"[[' * 1000, "x": [[1]]})
    assert parse_json(text)["x"] == [[1]]
    # Wide is fine, only deep is refused.
    assert len(parse_json(json.dumps([[1]] * 10000))) == 10000


def test_depth_scan_of_unterminated_strings_is_not_quadratic():
    # Every quote opens a string running to the end: each must match at once.
    assert "valid JSON" in _bad('["' + '\\"' * 200_000 + "[" * 100)


def test_nan_infinity_and_overflowing_floats_are_refused():
    for text in ("NaN", "[Infinity]", '{"a": -Infinity}', "1e400", '{"a": -1e999}'):
        assert "valid JSON" in _bad(text), text
    assert parse_json("1e308") == 1e308
    assert parse_json(str(2 ** 64)) == 2 ** 64  # ints parse; the database refuses them


def test_lone_surrogates_are_refused_pairs_are_not():
    assert "lone surrogate" in _bad('{"name": "\\ud800"}')
    assert "lone surrogate" in _bad('{"\\udfff": 1}')
    assert "lone surrogate" in _bad('[["x\\uDC00y"]]')
    assert parse_json('"\\ud83d\\ude00"') == "\U0001F600"
    assert parse_json('"\\\\ud800"') == "\\ud800"  # an escaped backslash, not an escape
    # Raw bytes must be UTF-8 (an encoded surrogate is not).
    assert "valid JSON" in _bad(b'"\xed\xa0\x80"')


def _service(handler, **kw):
    service = Service("t", "/t", keystone_fault, **kw)
    service.route("POST", "/x")(handler)
    return service


def _request(body=b"", path="/x", query=b"", headers=None):
    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return Request("POST", path, QueryParams(query), Headers(raw=raw), body, "http://h/t")


@pytest.mark.parametrize("error", [
    RecursionError("maximum recursion depth exceeded"),
    OverflowError("Python int too large to convert to SQLite INTEGER"),
    UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"),
    sa_exc.DataError("INSERT", {}, Exception("integer out of range")),
    sa_exc.StatementError("bind", "INSERT", {}, OverflowError("too big")),
])
def test_input_errors_below_the_api_are_400(error):
    def handler(req):
        raise error
    reply = _service(handler).dispatch(_request())
    assert reply.status == 400
    assert reply.body["error"]["code"] == 400 and reply.body["error"]["title"] == \
        "Bad Request"


def test_other_errors_stay_500():
    def handler(req):
        raise sa_exc.OperationalError("SELECT", {}, Exception("disk I/O error"))
    assert input_error(ZeroDivisionError()) is None
    assert _service(handler).dispatch(_request()).status == 500


def test_overflow_from_sqlite_is_400():
    """The real path: a Python int past 2^63 bound to SQLite."""
    engine = sa.create_engine("sqlite://")

    def handler(req):
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT :v"), {"v": req.json()["v"]})
        return Reply(200)
    reply = _service(handler).dispatch(_request(json.dumps({"v": 2 ** 63}).encode()))
    assert reply.status == 400


def test_deep_body_reaching_a_handler_is_400():
    def handler(req):
        req.json()
        return Reply(200)
    body = ("[" * 5000 + "]" * 5000).encode()
    assert _service(handler).dispatch(_request(body)).status == 400


def test_lone_surrogate_in_path_is_logged_escaped(caplog):
    """The 400's log line names the path with the surrogate escaped: a raw one broke
    whatever had to encode the record (pytest-xdist's report of the test below, in a
    CI run; a UTF-8 log file alike)."""
    service = _service(lambda req: Reply(200))
    service.route("POST", "/x/{id}")(lambda req: Reply(200))
    with caplog.at_level("INFO", logger="kumo"):
        assert service.dispatch(_request(path="/x/\ud800")).status == 400
    lines = [r.getMessage() for r in caplog.records]
    assert any("/x/\\ud800" in line for line in lines), lines
    for line in lines:
        line.encode("utf-8")


def test_lone_surrogate_in_path_or_query_is_400():
    def handler(req):
        return Reply(200)
    service = _service(handler)
    service.route("POST", "/x/{id}")(handler)
    assert service.dispatch(_request(path="/x/\ud800")).status == 400
    assert service.dispatch(_request(query="name=\ud800")).status == 400
    assert service.dispatch(_request(query="name=%ED%A0%80")).status == 200  # replaced


def test_media_type_hook_runs_only_for_bodies():
    seen = []

    def check(req):
        seen.append(req.headers.get("content-type"))
        raise exc.UnsupportedMediaType()

    def handler(req):
        return Reply(200)
    service = _service(handler, media_type=check)
    assert service.dispatch(_request()).status == 200
    reply = service.dispatch(_request(b"{}", headers={"Content-Type": "text/xml"}))
    assert reply.status == 415 and seen == ["text/xml"]

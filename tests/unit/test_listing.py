"""The list engine (kumo/common/listing.py) on an in-memory SQLite table: every row
exactly once in order whatever the page size, with NULLs and ties in the sort keys,
backwards, and with a Python ``keep`` filter whose pages span several chunks."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy import orm

from kumo.common import exceptions as exc
from kumo.common import listing
from kumo.common.listing import CINDER, GLANCE, NEUTRON, NOVA, Key, Params


class Base(orm.DeclarativeBase):
    pass


class Row(Base):
    __tablename__ = "row"
    id: orm.Mapped[str] = orm.mapped_column(sa.String(8), primary_key=True)
    group: orm.Mapped[int] = orm.mapped_column(sa.Integer)
    label: orm.Mapped[str | None] = orm.mapped_column(sa.String(8), nullable=True)


@pytest.fixture(scope="module")
def session():
    engine = sa.create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with orm.Session(engine) as s:
        for i in range(450):
            s.add(Row(id=f"r{i:04d}", group=i % 7,
                      label=None if i % 5 == 0 else f"l{i % 11:02d}"))
        s.commit()
        yield s


def expected(session, keys):
    rows = list(session.scalars(sa.select(Row)))

    def sort_key(r):
        out = []
        for k in keys:
            v = getattr(r, k.column.key)
            # NULLs first ascending; descending reverses the whole tuple element
            item = (v is not None, v if v is not None else "")
            out.append(item if k.ascending else _Desc(item))
        return out
    return [r.id for r in sorted(rows, key=sort_key)]


class _Desc:
    def __init__(self, v):
        self.v = v

    def __lt__(self, other):
        return self.v > other.v

    def __eq__(self, other):
        return self.v == other.v


def walk(session, keys, limit, reverse=False, keep=None, stmt=None):
    stmt = stmt if stmt is not None else sa.select(Row)
    seen, start = [], None
    for _ in range(1000):
        rows, more = listing.page(session, stmt, keys, start=start, limit=limit,
                                  reverse=reverse, keep=keep)
        assert len(rows) <= limit
        seen.extend(r.id for r in (reversed(rows) if reverse else rows))
        if not more:
            return seen
        edge = rows[0] if reverse else rows[-1]
        start = listing.marker_values(session, sa.select(Row), Row.id, edge.id, keys)
    raise AssertionError("too many pages")


KEYSETS = [
    [Key("id", Row.id, True)],
    [Key("group", Row.group, False), Key("id", Row.id, True)],
    [Key("label", Row.label, True), Key("id", Row.id, False)],
    [Key("label", Row.label, False), Key("group", Row.group, True), Key("id", Row.id, True)],
]


@pytest.mark.parametrize("keys", KEYSETS, ids=lambda ks: ",".join(
    f"{k.name}:{'asc' if k.ascending else 'desc'}" for k in ks))
@pytest.mark.parametrize("limit", [1, 7, 100, 449, 450, 1000])
def test_pages_every_row_once_in_order(session, keys, limit):
    want = expected(session, keys)
    assert walk(session, keys, limit) == want
    assert walk(session, keys, limit, reverse=True) == want[::-1]


def test_keep_filter_spans_chunks(session):
    keys = [Key("label", Row.label, True), Key("id", Row.id, True)]
    keep = lambda rows: [r for r in rows if r.group in (1, 4)]  # noqa: E731
    want = [i for i in expected(session, keys)
            if int(i[1:]) % 7 in (1, 4)]
    for limit in (3, 50, 500):
        assert walk(session, keys, limit, keep=keep) == want


def test_params_from_plain_data():
    p = Params({"a": "1", "b": ["x", "y"], "c": True})
    assert p["a"] == "1" and p.get("b") == "y" and p.getlist("b") == ["x", "y"]
    assert p["c"] == "true" and "d" not in p and p.get("d", 5) == 5
    assert listing.plain(Params([("k", "1"), ("k", "2"), ("j", "3")])) == {
        "k": ["1", "2"], "j": "3"}
    with pytest.raises(KeyError):
        p["d"]


@pytest.mark.parametrize("dialect", [NEUTRON, NOVA, GLANCE, CINDER])
@pytest.mark.parametrize("raw", ["x", "-1", "1.5", "", "1_0", "0x1", "1e3"])
def test_bad_limits(dialect, raw):
    with pytest.raises(exc.BadRequest):
        dialect.limit(raw)


def test_limits():
    assert NEUTRON.limit("0") is None and NOVA.limit("0") == 0
    assert NOVA.limit("5000", 1000) == 1000 and GLANCE.limit(None) == 25
    assert NOVA.limit(None) is None and NOVA.limit(" 7 ") == 7


def test_link_is_url_encoded():
    href = listing.link("http://h/v2.1/servers", {"name": "a&b=c #%+", "marker": "old"},
                        "next", "m/1", 2)["href"]
    assert href == ("http://h/v2.1/servers?name=a%26b%3Dc+%23%25%2B&limit=2&marker=m%2F1")


def test_sort_pairs():
    pairs = NOVA.sort_pairs({"sort_key": ["a", "b"], "sort_dir": "asc"},
                            [("a", "desc")], {"a", "b"})
    assert pairs == [("a", True), ("b", True)]
    assert NOVA.sort_pairs({}, [("a", "desc")], {"a"}) == [("a", False)]
    for bad in ({"sort_key": "z"}, {"sort_key": "a", "sort_dir": "up"},
                {"sort_key": ["a", "b", "a"], "sort_dir": ["asc", "desc"]}):
        with pytest.raises(exc.BadRequest):
            NOVA.sort_pairs(bad, [("a", "desc")], {"a", "b"})


def test_cinder_dialect(session):
    """Cinder's sort syntax, its messages, ``offset`` and its 404 marker."""
    columns = {"id": Row.id, "group": Row.group, "label": Row.label}
    assert CINDER.sort_pairs({"sort": "group:asc,label"}, [], columns) == [
        ("group", True), ("label", False)]
    assert CINDER.sort_pairs({"sort_key": "label"}, [("id", "desc")], columns) == [
        ("label", False)]
    assert CINDER.sort_pairs({}, [("id", "desc")], columns) == [("id", False)]
    for bad, message in (
            ({"sort": "id", "sort_key": "id"}, "cannot be used with the 'sort'"),
            ({"sort": "nope"}, "Invalid sort key nope"),
            ({"sort_key": "id", "sort_dir": "up"}, "Invalid sort dirs passed: up")):
        with pytest.raises(exc.BadRequest, match=message):
            CINDER.sort_pairs(bad, [], columns)
    with pytest.raises(exc.BadRequest) as err:
        CINDER.limit("x")
    assert err.value.message == "Invalid input received: limit must be an integer, got 'x'."
    with pytest.raises(exc.BadRequest) as err:
        CINDER.limit("-1")
    assert err.value.message == "Invalid input received: limit must be >= 0"
    assert CINDER.limit("5000") == 1000 and CINDER.limit("0") == 0
    assert CINDER.offset("-3") == 0
    with pytest.raises(exc.BadRequest, match="offset must be an integer"):
        CINDER.offset("x")
    everything = sa.select(Row)
    with pytest.raises(exc.NotFound) as err:
        CINDER.list(session, everything, everything, {"marker": "nope"}, columns,
                    ("id", Row.id), default=[("id", "desc")])
    assert err.value.status == 404
    assert err.value.message == "Marker nope could not be found."
    # the page after a marker, with an offset, in group desc then id desc order
    want = expected(session, [Key("group", Row.group, False), Key("id", Row.id, False)])
    rows, more = CINDER.list(session, everything, everything,
                             {"sort": "group", "marker": want[10], "offset": "2",
                              "limit": "5"}, columns, ("id", Row.id))
    assert [r.id for r in rows] == want[13:18] and more
    # keep (chunked) honours the offset too
    keys = [Key("id", Row.id, True)]
    kept = lambda rows: [r for r in rows if r.group == 3]  # noqa: E731
    all_kept = [i for i in expected(session, keys) if int(i[1:]) % 7 == 3]
    rows, more = listing.page(session, everything, keys, limit=4, offset=30, keep=kept)
    assert [r.id for r in rows] == all_kept[30:34] and more

"""One definition per API resource, in the spirit of neutron-lib's
``RESOURCE_ATTRIBUTE_MAP``: each attribute says once how it is validated, who may set it
on create and update, who may read it, whether and how it filters and sorts a list,
which model column holds it and how it is rendered. Everything an API module used to
write by hand is derived from that:

- :attr:`Resource.create_schema` / :attr:`Resource.update_schema`: the JSON Schemas of
  the request bodies (the attributes settable on create / update; ``required`` ones);
- :attr:`Resource.collection`: the :class:`~kumo.common.collection.Collection` (filters
  by kind, sort keys, tag filters) that lists it;
- :attr:`Resource.fields`: the attribute names ``fields=`` selects among;
- :meth:`Resource.render`: the API dicts of rows (attributes with a read policy only
  for callers it allows);
- :meth:`Resource.rules`: the oslo.policy ``RuleDefault``\\ s (``create_port``,
  ``create_port:binding:host_id``, ``get_router:ha``...) and :meth:`Resource.enforce`,
  the attribute-level checks of a create or update body.

A definition holds no HTTP and no SQL of its own: renderers get the rows and *extras*
(per-row data the API module loads through a manager, e.g. a port's fixed IPs).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from kumo.common import exceptions as exc
from kumo.common.collection import Collection
from kumo.common.policy import RuleDefault
from kumo.common.timeutils import isotime

#: ``Attr.create``/``Attr.update``/``Attr.read`` value: anyone may (no attribute rule).
ANYONE = True
#: ``Attr.filter`` kinds: compared as given (times by second), ``true/false/1/0``, an
#: integer; a callable ``(stmt, values) -> stmt`` is a custom filter.
EXACT, BOOLEAN, INTEGER = "exact", "boolean", "integer"
_MISSING = object()
#: Keys of a project's own resources: their create rules are enforced only when the
#: caller creates for another project (``create_<res>:project_id``).
PROJECT_KEYS = ("project_id", "tenant_id")


@dataclass(frozen=True)
class Attr:
    """One attribute of a resource.

    - ``schema``: its JSON Schema fragment in request bodies;
    - ``create``/``update``: ``False`` (not accepted), ``True`` (anyone allowed to
      create/update the resource may set it) or a policy check string: accepted, and
      ``<action>_<resource>:<name>`` with that default guards it;
    - ``create_sub``/``update_sub``: policy defaults of sub-attributes
      (``external_gateway_info:enable_snat``: present in the object;
      ``fixed_ips:ip_address``: set in any item of the list);
    - ``required``: on create; ``default``: the value the logic uses when absent
      (documentation; the manager applies it);
    - ``read``: ``True`` or a policy check string (``get_<resource>:<name>``): only
      callers it allows see the attribute;
    - ``column``: the model attribute that stores it (``None``: not a column, as
      computed attributes are); filters and sort keys use it;
    - ``filter``: ``None`` (not a filter), :data:`EXACT`, :data:`BOOLEAN`,
      :data:`INTEGER` or a callable ``(stmt, values) -> stmt``; ``sort``: a sort key;
    - ``render``: ``(row, extras) -> value``; by default the column's value (times as
      ISO 8601 to the second); ``read=False``: accepted in bodies, never rendered;
    - ``convert``: ``(value) -> value`` after the schema (e.g. integers given as
      strings), raising a 400 for what the schema cannot say;
    - ``when``: ``(extras) -> bool``, asked once per rendering: the attribute is shown
      only then (e.g. from a microversion on, ``extras`` carrying the request's);
    - ``omit_none``: a row whose value is None does not show the attribute at all (an
      extension's field that Neutron sets only on some objects, e.g. ``trunk_details``
      on a trunk's parent port).
    """

    name: str
    schema: dict | None = None
    create: bool | str = False
    update: bool | str = False
    create_sub: dict = field(default_factory=dict)
    update_sub: dict = field(default_factory=dict)
    required: bool = False
    default: Any = _MISSING
    read: bool | str = ANYONE
    column: str | None = None
    filter: str | Callable | None = None
    sort: bool = False
    render: Callable | None = None
    convert: Callable | None = None
    when: Callable | None = None
    omit_none: bool = False

    def value(self, row, extras: dict):
        if self.render is not None:
            return self.render(row, extras)
        return getattr(row, self.column)


def to_int(name: str) -> Callable:
    """A converter of an integer given as a string (400 if it is not one)."""
    def convert(value):
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                raise exc.BadRequest(f"Invalid input for {name}. Reason: '{value}' is "
                                     "not an integer.") from None
        return value
    return convert


def copy(row_attr: str, empty=list) -> Callable:
    """A renderer for a JSON column holding a list (dict): a copy, empty when unset."""
    return lambda row, extras: empty(getattr(row, row_attr) or empty())


def const(value) -> Callable:
    """A renderer of a constant (attributes Kumo does not model, e.g. ``qos_policy_id``)."""
    return lambda row, extras: (value() if callable(value) else value)


def extra(key: str, default=list) -> Callable:
    """A renderer reading ``extras[key][row.id]`` (``default()`` when absent)."""
    return lambda row, extras: extras[key].get(row.id, default())


def _time(column: str) -> Callable:
    return lambda row, extras: isotime(getattr(row, column), subsecond=False)


STRING = {"type": ["string", "null"], "maxLength": 255}
TAGS = {"type": "array", "items": {"type": "string"}}


def standard(*, name: bool = True, description: bool = True, update: bool = True,
             tags: bool = True, revision_sort: bool = False,
             project_rule: str = "rule:admin") -> list[Attr]:
    """Neutron's standard attributes: ``id``, ``name``, ``description``, ``project_id``
    (and ``tenant_id``), times, ``revision_number``, ``tags`` (from ``extras["tags"]``).
    ``project_rule`` guards creating for another project."""
    attrs = [Attr("id", column="id", filter=EXACT, sort=True)]
    if name:
        attrs.append(Attr("name", STRING, create=True, update=update, column="name",
                          filter=EXACT, sort=True))
    if description:
        attrs.append(Attr("description", STRING, create=True, update=update,
                          column="description", filter=EXACT))
    attrs += [
        Attr("project_id", {"type": "string"}, create=project_rule, column="project_id",
             filter=EXACT, sort=True),
        Attr("tenant_id", {"type": "string"}, create=project_rule, column="project_id",
             filter=EXACT, sort=True),
        Attr("created_at", column="created_at", filter=EXACT, sort=True,
             render=_time("created_at")),
        Attr("updated_at", column="updated_at", filter=EXACT, sort=True,
             render=_time("updated_at")),
        Attr("revision_number", column="revision_number", filter=INTEGER,
             sort=revision_sort),
    ]
    if tags:
        attrs.append(Attr("tags", TAGS, create=True, render=extra("tags")))
    return attrs


@dataclass
class Resource:
    """A resource's definition: ``name`` (``port``), ``collection`` (``ports``), the
    ``model`` its rows come from, its ``attrs`` in rendering order, ``actions``: the
    policy defaults of ``create``/``get``/``update``/``delete`` (other actions by their
    full rule name, e.g. ``add_router_interface``), ``extra_rules``: rules its handlers
    enforce by hand, and ``tags`` (``tags``/``not-tags``... filters, a
    callable ``(stmt, op, tags) -> stmt``)."""

    name: str
    collection: str
    model: type
    attrs: list[Attr]
    actions: dict[str, str] = field(default_factory=dict)
    tags: Callable | None = None
    extra_rules: list = field(default_factory=list)

    def __post_init__(self):
        self.by_name = {a.name: a for a in self.attrs}
        assert len(self.by_name) == len(self.attrs), f"{self.name}: duplicate attribute"
        self.create_schema = self._schema("create")
        self.update_schema = self._schema("update")
        self.collection_of = self._collection()
        self.fields = tuple(a.name for a in self.attrs if a.read is not False)

    # -- derived --------------------------------------------------------------------
    def _schema(self, action: str) -> dict:
        settable = [a for a in self.attrs if getattr(a, action)]
        schema = {"type": "object", "properties": {a.name: a.schema for a in settable},
                  "additionalProperties": False}
        required = [a.name for a in settable if a.required] if action == "create" else []
        if required:
            schema["required"] = required
        return schema

    def _collection(self) -> Collection:
        columns, booleans, integers, sortable, custom = {}, [], [], [], {}
        for a in self.attrs:
            if callable(a.filter):
                custom[a.name] = a.filter
            if a.column is None:
                continue
            if a.filter is not None or a.sort:
                columns[a.name] = getattr(self.model, a.column)
            if a.filter == BOOLEAN:
                booleans.append(a.name)
            elif a.filter == INTEGER:
                integers.append(a.name)
            if a.sort:
                sortable.append(a.name)
        return Collection(self.collection, self.model, columns=columns,
                          booleans=tuple(booleans), integers=tuple(integers),
                          sortable=tuple(sortable), tags=self.tags, custom=custom)

    @property
    def filters(self) -> tuple[str, ...]:
        """The query parameters that filter a list of this resource."""
        return tuple(a.name for a in self.attrs if a.filter is not None)

    @property
    def sort_keys(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.attrs if a.sort)

    def attribute_rules(self) -> dict[str, str]:
        """``{"create_port:binding:host_id": check, "get_router:ha": check, ...}``."""
        out = {}
        for a in self.attrs:
            for action, how, sub in (("create", a.create, a.create_sub),
                                     ("update", a.update, a.update_sub)):
                if isinstance(how, str):
                    out[f"{action}_{self.name}:{a.name}"] = how
                for key, check in sub.items():
                    out[f"{action}_{self.name}:{a.name}:{key}"] = check
            if isinstance(a.read, str):
                out[f"get_{self.name}:{a.name}"] = a.read
        return out

    def action_rule(self, action: str) -> str:
        """``create`` -> ``create_port``; other actions are named in full
        (``add_router_interface``)."""
        if action in ("create", "get", "update", "delete"):
            return f"{action}_{self.name}"
        return action

    def rules(self) -> list[RuleDefault]:
        """Every policy default of this resource (actions, then attributes)."""
        return ([RuleDefault(self.action_rule(action), check)
                 for action, check in self.actions.items()]
                + [RuleDefault(n, c) for n, c in self.attribute_rules().items()]
                + list(self.extra_rules))

    # -- at request time ------------------------------------------------------------
    def prepare(self, attrs: dict) -> dict:
        """Apply the attributes' converters to a validated body, in place."""
        for key in list(attrs):
            a = self.by_name.get(key)
            if a is not None and a.convert is not None:
                attrs[key] = a.convert(attrs[key])
        return attrs

    def enforce(self, ctx, action: str, attrs: dict, target: dict) -> None:
        """The attribute rules of a ``create``/``update`` body: ``<action>_<name>:<attr>``
        for each attribute present whose definition guards it, and its sub-attribute
        rules. ``project_id``/``tenant_id`` are checked by the caller, only when they
        name another project."""
        for key, value in attrs.items():
            a = self.by_name.get(key)
            if a is None or key in PROJECT_KEYS:
                continue
            if isinstance(getattr(a, action), str):
                ctx.enforce(f"{action}_{self.name}:{key}", target)
            for sub in (a.create_sub if action == "create" else a.update_sub):
                if isinstance(value, dict):
                    hit = sub in value
                elif isinstance(value, list):
                    hit = any(isinstance(v, dict) and v.get(sub) for v in value)
                else:
                    hit = False
                if hit:
                    ctx.enforce(f"{action}_{self.name}:{key}:{sub}", target)

    def render(self, rows: list, extras: dict | None = None, ctx=None, *,
               every: bool = False, only=None) -> list[dict]:
        """The API dicts of ``rows`` (ORM objects or Core rows), in attribute order
        (those with a read policy last);
        ``extras`` feed the computed attributes; attributes with a read policy appear
        when ``ctx`` may ``get_<name>:<attr>`` on the row's project (never without
        ``ctx``); ``every``: all of them (internal views such as the data-plane
        feed); ``only``: just these attributes (a brief list). Attributes with a
        ``when`` appear when it says so."""
        extras = {} if extras is None else extras
        shown = [a for a in self.attrs if (only is None or a.name in only)
                 and (a.when is None or a.when(extras))]
        guarded = [a for a in shown if isinstance(a.read, str)]
        plain = [a for a in shown if a.read is ANYONE]
        omit = [a.name for a in shown if a.omit_none]
        allowed: dict[tuple, bool] = {}
        out = []
        for row in rows:
            item = {a.name: a.value(row, extras) for a in plain}
            for a in guarded:
                key = (a.name, getattr(row, "project_id", None))
                ok = allowed.get(key)
                if ok is None:
                    ok = allowed[key] = every or ctx is not None and ctx.can(
                        f"get_{self.name}:{a.name}", {"project_id": key[1]})
                if ok:
                    item[a.name] = a.value(row, extras)
            for name in omit:
                if item.get(name, True) is None:
                    del item[name]
            out.append(item)
        return out

"""Tasks under ``/v2/tasks`` and ``/v2/schemas/task(s)`` (Image API v2 "Tasks").
Admin-only, as Glance's ``tasks_api_access`` default; logic in :mod:`kumo.image.tasks`.
"""
from __future__ import annotations

from kumo.common import exceptions as exc
from kumo.common.http import Reply, Request, validate
from kumo.common.timeutils import isotime
from kumo.image import metadef_schemas as ms
from kumo.image import schemas
from kumo.image.api import service
from kumo.image.tasks import Tasks, check_source

_LISTED = ("id", "type", "status", "owner", "expires_at", "created_at", "updated_at",
           "self", "schema")


def _tasks(req: Request) -> Tasks:
    return req.cloud.images.tasks


def _time(value):
    return isotime(value, subsecond=False) if value is not None else None


#: Keys an ``api_image_import`` task keeps in its result for the image tasks view only.
_IMAGE_TASK_KEYS = ("request_id", "user_id")


def render(task) -> dict:
    result = task.result
    if task.type == "api_image_import" and result is not None:
        result = {k: v for k, v in result.items() if k not in _IMAGE_TASK_KEYS}
    return {"id": task.id, "type": task.type, "status": task.status, "input": task.input,
            "result": result, "owner": task.owner, "message": task.message,
            "expires_at": _time(task.expires_at), "created_at": _time(task.created_at),
            "updated_at": _time(task.updated_at), "self": f"/v2/tasks/{task.id}",
            "schema": "/v2/schemas/task"}


def _check_import_input(task_input: dict) -> None:
    validate(task_input, ms.IMPORT_INPUT)
    props = task_input["image_properties"]
    for key in props:
        if key in schemas.READ_ONLY or key == "id":
            raise exc.Forbidden(f"Attribute '{key}' is read-only.")
        if key.startswith(schemas.RESERVED_PREFIX) or key in schemas.RESERVED:
            raise exc.Forbidden(f"Attribute '{key}' is reserved.")
    validate({**props, "disk_format": props.get("disk_format",
                                                task_input["import_from_format"])},
             schemas.IMAGE)
    schemas.check_db_ints(props)
    check_source(task_input["import_from"])


@service.route("POST", "/v2/tasks")
def create_task(req: Request) -> Reply:
    """``{"type": "import", "input": {"import_from", "import_from_format",
    "image_properties"}}``: 201 with the ``pending`` task. 400 for another type, a bad
    input or a source the import filter refuses; 403 for reserved image attributes."""
    req.context.enforce("add_task")
    body = req.json()
    validate(body, ms.TASK_CREATE)
    if body["type"] not in ms.TASK_TYPES:
        raise exc.BadRequest(f"Invalid type value: {body['type']}")
    _check_import_input(body["input"])
    task = _tasks(req).create(req.context, body["type"], body["input"])
    return Reply(201, render(task), headers={"Location": req.url(f"/v2/tasks/{task.id}")})


@service.route("GET", "/v2/tasks")
def list_tasks(req: Request) -> Reply:
    """``{"tasks", "first", "schema"}``; ``type``, ``status``, ``limit``, ``marker``."""
    req.context.enforce("get_tasks")
    q = req.query
    status = q.get("status")
    if status is not None and status not in ms.TASK_STATUSES:
        raise exc.BadRequest(f"Invalid status value: {status}")
    rows = _tasks(req).list(req.context, q.get("type"), status)
    if (marker := q.get("marker")) is not None:
        ids = [t.id for t in rows]
        if marker not in ids:
            raise exc.BadRequest(f"Invalid marker. Task {marker} could not be found.")
        rows = rows[ids.index(marker) + 1:]
    body = {"first": "/v2/tasks", "schema": "/v2/schemas/tasks"}
    if (limit := q.get("limit")) is not None:
        if not limit.isdigit():
            raise exc.BadRequest("limit param must be an integer")
        if len(rows) > int(limit) > 0:
            body["next"] = f"/v2/tasks?marker={rows[int(limit) - 1].id}&limit={limit}"
        rows = rows[:int(limit)]
    body["tasks"] = [{k: v for k, v in render(t).items() if k in _LISTED} for t in rows]
    return Reply(200, body)


@service.route("GET", "/v2/tasks/{task_id}")
def get_task(req: Request) -> Reply:
    req.context.enforce("get_task")
    return Reply(200, render(_tasks(req).get(req.context, req.params["task_id"])))


@service.route("GET", "/v2/images/{image_id}/tasks")
def image_tasks(req: Request) -> Reply:
    """``{"tasks": [...]}``: the tasks that made this image (Image API 2.12 "Show image
    tasks"), each with ``image_id``; 404 for an image the caller cannot see."""
    from kumo.image.api import render as image_render
    image = req.cloud.images.get(req.context, req.params["image_id"])
    req.context.enforce("get_image", image_render.target(image))
    rows = [t for t in _tasks(req).list(None)
            if (t.result or {}).get("image_id") == image.id]
    return Reply(200, {"tasks": [
        {**render(t), "image_id": image.id,
         **{k: (t.result or {}).get(k) for k in _IMAGE_TASK_KEYS}} for t in rows]})

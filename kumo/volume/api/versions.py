"""Version discovery (Block Storage API "API versions"): ``GET /volume/`` lists the
versions (300 Multiple Choices, as Cinder), ``GET /volume/v3/`` shows v3 with its
microversion range."""
from __future__ import annotations

from kumo.common.http import Reply, Request
from kumo.volume.api import MAX_VERSION, MIN_VERSION, service, vstr


def version(req: Request) -> dict:
    return {"id": "v3.0", "status": "CURRENT", "version": vstr(MAX_VERSION),
            "min_version": vstr(MIN_VERSION), "updated": "2023-08-31T00:00:00Z",
            "links": [{"rel": "describedby", "type": "text/html",
                       "href": "https://docs.openstack.org/"},
                      {"rel": "self", "href": req.url("/v3/")}],
            "media-types": [{"base": "application/json",
                             "type": "application/vnd.openstack.volume+json;version=3"}]}


@service.route("GET", "/", authenticated=False)
def versions(req: Request) -> Reply:
    return Reply(300, {"versions": [version(req)]})


@service.route("GET", "/v3", authenticated=False)
def show(req: Request) -> Reply:
    return Reply(200, {"versions": [version(req)]})


#: Cinder's API extensions (``GET /v3/extensions``), all served by Kumo's v3 API.
EXTENSIONS = [
    ("AdminActions", "os-admin-actions", "Enable admin actions."),
    ("AvailabilityZones", "os-availability-zone", "Describe Availability Zones."),
    ("Backups", "backups", "Backups support."),
    ("Capabilities", "capabilities", "Capabilities support."),
    ("ExtendedSnapshotAttributes", "os-extended-snapshot-attributes",
     "Extended SnapshotAttributes support."),
    ("Hosts", "os-hosts", "Admin-only host administration."),
    ("QoSSpecs", "qos-specs", "QoS specs support."),
    ("Quota_classes", "os-quota-class-sets", "Quota classes management support."),
    ("Quotas", "os-quota-sets", "Quota management support."),
    ("SchedulerHints", "OS-SCH-HNT", "Pass arbitrary key/value pairs to the scheduler."),
    ("Scheduler_stats", "scheduler-stats", "Scheduler stats support."),
    ("Services", "os-services", "Services support."),
    ("TypesExtraSpecs", "os-types-extra-specs", "Type extra specs support."),
    ("TypesManage", "os-types-manage", "Types manage support."),
    ("UsedLimits", "os-used-limits", "Provide data on limited resources that are being "
     "used."),
    ("VolumeActions", "os-volume-actions", "Enable volume actions."),
    ("VolumeHostAttribute", "os-vol-host-attr", "Expose host as an attribute of a "
     "volume."),
    ("VolumeImageMetadata", "os-vol-image-meta", "Show image metadata associated with "
     "the volume."),
    ("VolumeMigStatusAttribute", "os-vol-mig-status-attr", "Expose migration_status as "
     "an attribute of a volume."),
    ("VolumeTenantAttribute", "os-vol-tenant-attr", "Expose the internal project_id as "
     "an attribute of a volume."),
    ("VolumeTransfer", "os-volume-transfer", "Volume transfer management support."),
    ("VolumeTypeAccess", "os-volume-type-access", "Volume type access support."),
]


@service.route("GET", "/v3/extensions")
def extensions(req: Request) -> Reply:
    return Reply(200, {"extensions": [
        {"name": name, "alias": alias, "description": text, "links": [],
         "updated": "2013-10-03T00:00:00+00:00"} for name, alias, text in EXTENSIONS]})

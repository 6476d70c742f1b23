"""Extensions (Compute API "Extensions (extensions)", deprecated): ``GET
/v2.1/extensions`` and ``GET /v2.1/extensions/{alias}``.

Since v2.1 Nova has no extensions; it answers with one fixed compatibility list (the
names v2.0 clients looked for), whatever the deployment serves, and so does Kumo: the
same aliases and names, each ``{"alias", "name", "description", "links": [],
"namespace", "updated"}``. ``show`` finds an entry by alias (404 otherwise). Policy
``os_compute_api:extensions`` (anyone)."""
from __future__ import annotations

from kumo.common import exceptions as exc
from kumo.common.http import Reply, Request
from kumo.common.policy import RuleDefault, register
from kumo.compute.api import service

RULE = "os_compute_api:extensions"
register([RuleDefault(RULE, "@")])

#: (alias, name) of Nova's v2.1 compatibility list, in Nova's order.
_ENTRIES = """
NMN Multinic | OS-DCF DiskConfig | OS-EXT-AZ ExtendedAvailabilityZone
OS-EXT-IMG-SIZE ImageSize | OS-EXT-IPS ExtendedIps | OS-EXT-IPS-MAC ExtendedIpsMac
OS-EXT-SRV-ATTR ExtendedServerAttributes | OS-EXT-STS ExtendedStatus
OS-FLV-DISABLED FlavorDisabled | OS-FLV-EXT-DATA FlavorExtraData
OS-SCH-HNT SchedulerHints | OS-SRV-USG ServerUsage | os-access-ips AccessIPs
os-admin-actions AdminActions | os-admin-password AdminPassword | os-agents Agents
os-aggregates Aggregates | os-assisted-volume-snapshots AssistedVolumeSnapshots
os-attach-interfaces AttachInterfaces | os-availability-zone AvailabilityZone
os-baremetal-ext-status BareMetalExtStatus | os-baremetal-nodes BareMetalNodes
os-block-device-mapping BlockDeviceMapping
os-block-device-mapping-v2-boot BlockDeviceMappingV2Boot
os-cell-capacities CellCapacities | os-cells Cells | os-certificates Certificates
os-cloudpipe Cloudpipe | os-cloudpipe-update CloudpipeUpdate
os-config-drive ConfigDrive | os-console-auth-tokens ConsoleAuthTokens
os-console-output ConsoleOutput | os-consoles Consoles | os-create-backup CreateBackup
os-create-server-ext Createserverext | os-deferred-delete DeferredDelete
os-evacuate Evacuate | os-extended-evacuate-find-host ExtendedEvacuateFindHost
os-extended-floating-ips ExtendedFloatingIps
os-extended-hypervisors ExtendedHypervisors | os-extended-networks ExtendedNetworks
os-extended-quotas ExtendedQuotas
os-extended-rescue-with-image ExtendedRescueWithImage
os-extended-services ExtendedServices
os-extended-services-delete ExtendedServicesDelete
os-extended-status ExtendedStatus | os-extended-volumes ExtendedVolumes
os-fixed-ips FixedIPs | os-flavor-access FlavorAccess
os-flavor-extra-specs FlavorExtraSpecs | os-flavor-manage FlavorManage
os-flavor-rxtx FlavorRxtx | os-flavor-swap FlavorSwap | os-floating-ip-dns FloatingIpDns
os-floating-ip-pools FloatingIpPools | os-floating-ips FloatingIps
os-floating-ips-bulk FloatingIpsBulk | os-fping Fping
os-hide-server-addresses HideServerAddresses | os-hosts Hosts
os-hypervisor-status HypervisorStatus | os-hypervisors Hypervisors
os-instance-actions InstanceActions
os-instance_usage_audit_log OSInstanceUsageAuditLog | os-keypairs Keypairs
os-lock-server LockServer | os-migrate-server MigrateServer | os-migrations Migrations
os-multiple-create MultipleCreate | os-networks Networks
os-networks-associate NetworkAssociationSupport | os-pause-server PauseServer
os-personality Personality | os-preserve-ephemeral-rebuild PreserveEphemeralOnRebuild
os-quota-class-sets QuotaClasses | os-quota-sets Quotas | os-rescue Rescue
os-security-group-default-rules SecurityGroupDefaultRules
os-security-groups SecurityGroups | os-server-diagnostics ServerDiagnostics
os-server-external-events ServerExternalEvents
os-server-group-quotas ServerGroupQuotas | os-server-groups ServerGroups
os-server-list-multi-status ServerListMultiStatus
os-server-password ServerPassword | os-server-sort-keys ServerSortKeys
os-server-start-stop ServerStartStop | os-services Services | os-shelve Shelve
os-simple-tenant-usage SimpleTenantUsage | os-suspend-server SuspendServer
os-tenant-networks OSTenantNetworks | os-used-limits UsedLimits
os-used-limits-for-admin UsedLimitsForAdmin | os-user-data UserData
os-user-quotas UserQuotas | os-virtual-interfaces VirtualInterfaces
os-volume-attachment-update VolumeAttachmentUpdate | os-volumes Volumes
"""
NAMESPACE = "http://docs.openstack.org/compute/ext/fake_xml"
UPDATED = "2014-12-03T00:00:00Z"


def _entries() -> list[dict]:
    out = []
    for item in _ENTRIES.replace("\n", " | ").split("|"):
        if item.strip():
            alias, name = item.split()
            out.append({"alias": alias, "name": name,
                        "description": f"{name} (a Compute v2.1 compatibility entry).",
                        "links": [], "namespace": NAMESPACE, "updated": UPDATED})
    return out


EXTENSIONS = _entries()


@service.route("GET", "/v2.1/extensions")
def index(req: Request) -> Reply:
    req.context.enforce(RULE, {})
    return Reply(200, {"extensions": EXTENSIONS})


@service.route("GET", "/v2.1/extensions/{alias}")
def show(req: Request) -> Reply:
    req.context.enforce(RULE, {})
    for ext in EXTENSIONS:
        if ext["alias"] == req.params["alias"]:
            return Reply(200, {"extension": ext})
    raise exc.NotFound("The resource could not be found.")

"""Default policy rules of the Compute service under Nova's names
(``os_compute_api:servers:create``...), so an operator's Nova ``policy.yaml`` reads the
same. Targets are flat dicts with ``project_id`` (and ``user_id`` for key pairs).
Visibility (which servers a project sees) is in the manager's queries: another
project's server is 404, never 403."""
from kumo.common.policy import RuleDefault, register

ADMIN = "rule:admin"
MEMBER = "rule:admin or (role:member and project_id:%(project_id)s)"
READER = "rule:admin or (role:reader and project_id:%(project_id)s)"
ANY = "@"
P = "os_compute_api:"

_member = ["os-deferred-delete:restore", "os-deferred-delete:force", "servers:create", "servers:update", "servers:delete", "servers:reboot",
           "servers:rebuild", "servers:resize", "servers:confirm_resize",
           "servers:revert_resize", "servers:start", "servers:stop",
           "servers:create_image", "os-pause-server:pause", "os-pause-server:unpause",
           "os-lock-server:lock", "os-lock-server:unlock", "os-console-output",
           "os-remote-consoles",
           "os-attach-interfaces:create", "os-attach-interfaces:delete",
           "server-metadata:create", "server-metadata:update",
           "server-metadata:update_all", "server-metadata:delete",
           "os-server-tags:update", "os-server-tags:update_all", "os-server-tags:delete",
           "os-server-tags:delete_all", "os-server-groups:create",
           "os-server-groups:delete", "os-simple-tenant-usage:show",
           "os-suspend-server:suspend", "os-suspend-server:resume", "os-shelve:shelve",
           "os-shelve:unshelve", "os-rescue", "os-unrescue", "os-create-backup",
           "os-security-groups:add", "os-security-groups:remove",
           "os-floating-ips:add", "os-floating-ips:remove",
           "servers:trigger_crash_dump", "os-server-password:clear",
           "os-security-groups:create", "os-security-groups:update",
           "os-security-groups:delete", "os-security-groups:rule:create",
           "os-security-groups:rule:delete", "os-floating-ips:create",
           "os-floating-ips:delete", "os-tenant-networks:create",
           "os-tenant-networks:delete", "images:delete", "image-metadata:create",
           "image-metadata:update", "image-metadata:update_all", "image-metadata:delete"]
_reader = ["servers:index", "servers:detail", "servers:show",
           "os-attach-interfaces:list", "os-attach-interfaces:show",
           "server-metadata:index", "server-metadata:show", "os-server-tags:index",
           "os-server-tags:show", "os-server-groups:index", "os-server-groups:show",
           "os-instance-actions:list", "os-instance-actions:show",
           "os-quota-sets:show", "os-quota-sets:detail", "os-server-password:show",
           "ips:index", "ips:show", "os-security-groups:get", "os-security-groups:show",
           "os-security-groups:list", "os-floating-ips:list", "os-floating-ips:show",
           "os-tenant-networks:list", "os-tenant-networks:show", "os-networks:list",
           "os-networks:show", "images:index", "images:detail", "images:show",
           "image-metadata:index", "image-metadata:show"]
_admin = ["servers:index:get_all_tenants", "servers:detail:get_all_tenants",
          "servers:show:host_status", "os-extended-server-attributes",
          "servers:create:forced_host", "servers:allow_all_filters",
          "os-lock-server:unlock:unlock_override", "servers:delete:force",
          "os-flavor-manage:create", "os-flavor-manage:delete", "os-flavor-manage:update",
          "os-flavor-extra-specs:create", "os-flavor-extra-specs:update",
          "os-flavor-extra-specs:delete", "os-flavor-access:add_tenant_access",
          "os-flavor-access:remove_tenant_access", "os-flavor-access",
          "os-hypervisors:list", "os-hypervisors:list-detail", "os-hypervisors:show",
          "os-hypervisors:statistics", "os-hypervisors:servers",
          "os-hypervisors:search", "os-hypervisors:uptime",
          "os-admin-actions:inject_network_info",
          "os-services:list", "os-services:update", "os-services:delete",
          "os-availability-zone:detail", "os-quota-sets:update", "os-quota-sets:delete",
          "os-quota-sets:defaults_admin", "os-simple-tenant-usage:list",
          "os-instance-actions:events", "os-instance-actions:events:details",
          "os-server-groups:index:all_projects", "os-keypairs:index:other_user",
          "limits:other_project", "servers:create:requested_destination",
          "os-shelve:shelve_offload", "os-admin-actions:reset_state",
          "os-migrate-server:migrate", "os-migrate-server:migrate:host",
          "os-migrate-server:migrate_live", "os-evacuate", "os-migrations:index",
          "os-server-diagnostics", "os-aggregates:index", "os-aggregates:create",
          "os-aggregates:show", "os-aggregates:update", "os-aggregates:delete",
          "os-aggregates:add_host", "os-aggregates:remove_host",
          "os-aggregates:set_metadata", "os-hosts:list", "os-hosts:show",
          "os-hosts:update", "os-hosts:reboot", "os-hosts:shutdown", "os-hosts:start",
          "os-instance-usage-audit-log:list", "os-instance-usage-audit-log:show",
          "os-shelve:unshelve_to_host", "servers:migrations:index",
          "servers:migrations:show", "servers:migrations:force_complete",
          "servers:migrations:delete"]
_any = ["os-flavor-extra-specs:index", "os-flavor-extra-specs:show",
        "os-availability-zone:list", "limits", "os-quota-sets:defaults",
        "flavors:index", "flavors:show"]

RULES = ([RuleDefault(P + n, MEMBER) for n in _member]
         + [RuleDefault(P + n, READER) for n in _reader]
         + [RuleDefault(P + n, ADMIN) for n in _admin]
         + [RuleDefault(P + n, ANY) for n in _any]
         + [RuleDefault(P + f"os-keypairs:{n}", "rule:admin or user_id:%(user_id)s")
            for n in ("index", "create", "show", "delete")]
         + [RuleDefault(P + "os-server-external-events:create", "rule:admin_or_service")]
         + [RuleDefault("kumo:compute_agent", "rule:admin_or_service",
                        "The agents' routes under /compute/kumo/v1.")])

register(RULES)

"""Default policy rules of the Block Storage service, under Cinder's names
(``volume:create``, ``volume_extension:volume_admin_actions:reset_status``...), so an
operator's Cinder ``policy.yaml`` reads the same.

Targets are flat dicts with ``project_id`` (the resource's project). Which rows a
caller sees at all is the manager's query (another project's volume is 404, never 403).
"""
from kumo.common.policy import RuleDefault, register

ADMIN = "rule:admin"
MEMBER = "rule:admin or rule:project_member"
READER = "rule:admin or rule:project_reader"

RULES = [
    RuleDefault("volume:create", MEMBER),
    RuleDefault("volume:create_from_image", MEMBER),
    RuleDefault("volume:get", READER),
    RuleDefault("volume:get_all", READER),
    RuleDefault("volume:update", MEMBER),
    RuleDefault("volume:delete", MEMBER),
    RuleDefault("volume:force_delete", ADMIN),
    RuleDefault("volume:extend", MEMBER),
    RuleDefault("volume:extend_attached_volume", MEMBER),
    RuleDefault("volume:retype", MEMBER),
    RuleDefault("volume:update_readonly_flag", MEMBER),
    RuleDefault("volume:update_volume_metadata", MEMBER),
    RuleDefault("volume:get_volume_metadata", READER),
    RuleDefault("volume:delete_volume_metadata", MEMBER),
    RuleDefault("volume_extension:volume_image_metadata:set", MEMBER),
    RuleDefault("volume_extension:volume_image_metadata:remove", MEMBER),
    RuleDefault("volume_extension:volume_actions:upload_image", MEMBER),
    RuleDefault("volume_extension:volume_actions:upload_public", ADMIN),
    RuleDefault("volume_extension:volume_admin_actions:reset_status", ADMIN),
    RuleDefault("volume_extension:volume_admin_actions:migrate_volume", ADMIN),
    RuleDefault("volume_extension:volume_host_attribute", ADMIN),
    RuleDefault("volume_extension:volume_mig_status_attribute", ADMIN),
    RuleDefault("volume:multiattach", MEMBER),
    RuleDefault("volume:attachment_create", MEMBER),
    RuleDefault("volume:attachment_update", MEMBER),
    RuleDefault("volume:attachment_delete", MEMBER),
    RuleDefault("volume:attachment_complete", MEMBER),
    RuleDefault("volume:attachment_get", READER),
    RuleDefault("volume:attachment_get_all", READER),
    RuleDefault("volume_extension:types_manage", ADMIN),
    RuleDefault("volume_extension:type_get", "rule:authenticated"),
    RuleDefault("volume_extension:type_get_all", "rule:authenticated"),
    RuleDefault("volume_extension:volume_type_access", "rule:authenticated"),
    RuleDefault("volume_extension:volume_type_access:addProjectAccess", ADMIN),
    RuleDefault("volume_extension:volume_type_access:removeProjectAccess", ADMIN),
    RuleDefault("volume_extension:access_types_extra_specs", ADMIN),
    RuleDefault("volume:get_snapshot", READER),
    RuleDefault("volume:get_all_snapshots", READER),
    RuleDefault("volume:create_snapshot", MEMBER),
    RuleDefault("volume:update_snapshot", MEMBER),
    RuleDefault("volume:delete_snapshot", MEMBER),
    RuleDefault("volume:update_snapshot_metadata", MEMBER),
    RuleDefault("volume:get_snapshot_metadata", READER),
    RuleDefault("volume:delete_snapshot_metadata", MEMBER),
    RuleDefault("volume_extension:snapshot_admin_actions:reset_status", ADMIN),
    RuleDefault("volume_extension:snapshot_admin_actions:force_delete", ADMIN),
    RuleDefault("backup:create", MEMBER),
    RuleDefault("backup:get", READER),
    RuleDefault("backup:get_all", READER),
    RuleDefault("backup:update", MEMBER),
    RuleDefault("backup:delete", MEMBER),
    RuleDefault("backup:restore", MEMBER),
    RuleDefault("backup:backup-export", ADMIN),
    RuleDefault("backup:backup-import", ADMIN),
    RuleDefault("volume_extension:backup_admin_actions:reset_status", ADMIN),
    RuleDefault("volume_extension:backup_admin_actions:force_delete", ADMIN),
    RuleDefault("volume:create_transfer", MEMBER),
    RuleDefault("volume:accept_transfer", "rule:admin or role:member"),
    RuleDefault("volume:get_transfer", READER),
    RuleDefault("volume:get_all_transfers", READER),
    RuleDefault("volume:delete_transfer", MEMBER),
    RuleDefault("volume_extension:quotas:show", READER),
    RuleDefault("volume_extension:quotas:update", ADMIN),
    RuleDefault("volume_extension:quotas:delete", ADMIN),
    RuleDefault("limits_extension:used_limits", READER),
    RuleDefault("volume_extension:quota_classes", ADMIN),
    *[RuleDefault(f"volume_extension:qos_specs_manage:{n}", ADMIN)
      for n in ("get", "get_all", "create", "update", "delete")],
    RuleDefault("volume_extension:availability_zone_list", "rule:authenticated"),
    RuleDefault("volume_extension:services:index", ADMIN),
    RuleDefault("volume_extension:hosts", ADMIN),
    RuleDefault("volume_extension:services:update", ADMIN),
    RuleDefault("volume_extension:capabilities", ADMIN),
    RuleDefault("scheduler_extension:scheduler_stats:get_pools", ADMIN),
    RuleDefault("volume:all_tenants", ADMIN,
                "List every project's resources (``all_tenants``)."),
]

register(RULES)

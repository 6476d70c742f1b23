"""Default policy rules of the Image service, under Glance's own names (``add_image``,
``get_image``, ``publicize_image``...), so an operator's Glance ``policy.yaml`` reads
the same.

Targets are flat dicts: ``project_id`` and ``owner`` (the image owner) and
``member_id`` (for member rules). Visibility (which images a project can see at all) is
applied by the manager's queries, so another project's private image is 404, never 403.
"""
from kumo.common.policy import RuleDefault, register

ADMIN = "rule:admin"
OWNER = "rule:admin or (role:member and project_id:%(owner)s)"
READER = "rule:admin or role:reader"

RULES = [
    RuleDefault("add_image", "rule:admin or (role:member and project_id:%(owner)s)",
                "Create an image (owner: the caller's project unless admin)."),
    # The service role (the compute agents fetching the images they boot) shows and
    # downloads any image; Glance leaves that to the user's token, Kumo's agents have none.
    RuleDefault("get_image", READER + " or rule:service",
                "Show an image the caller can see."),
    RuleDefault("get_images", READER, "List images."),
    RuleDefault("modify_image", OWNER, "Update an image, its tags."),
    RuleDefault("delete_image", OWNER),
    RuleDefault("publicize_image", ADMIN, "Make an image public."),
    RuleDefault("communitize_image", OWNER, "Make an image community."),
    RuleDefault("upload_image", OWNER, "Upload or stage image data."),
    RuleDefault("import_image", OWNER, "Import staged image data."),
    RuleDefault("download_image", READER + " or rule:service", "Download image data."),
    # Glance's defaults since the secure-RBAC rework: ADMIN_OR_PROJECT_MEMBER.
    RuleDefault("deactivate", OWNER, "Deactivate an image (its data cannot be "
                "downloaded by non-admins)."),
    RuleDefault("reactivate", OWNER),
    RuleDefault("add_member", OWNER),
    RuleDefault("delete_member", OWNER),
    RuleDefault("get_member", READER),
    RuleDefault("get_members", READER),
    RuleDefault("modify_member", "rule:admin or (role:member and project_id:%(member_id)s)",
                "Accept or reject an image shared with the caller's project."),
    RuleDefault("get_image_info", "rule:authenticated",
                "Discovery: /v2/info/import and /v2/info/stores."),
]

# Metadata definitions: reads for every user (within namespace visibility, applied by
# the queries), writes for admins: Glance's ``metadef_default``/``metadef_admin``.
_METADEF_READS = ["get_metadef_namespace", "get_metadef_namespaces", "get_metadef_object",
                  "get_metadef_objects", "get_metadef_property", "get_metadef_properties",
                  "get_metadef_tag", "get_metadef_tags", "list_metadef_resource_types",
                  "get_metadef_resource_type"]
_METADEF_WRITES = ["add_metadef_namespace", "modify_metadef_namespace",
                   "delete_metadef_namespace", "add_metadef_object",
                   "modify_metadef_object", "delete_metadef_object",
                   "add_metadef_property", "modify_metadef_property",
                   "remove_metadef_property", "add_metadef_tag", "add_metadef_tags",
                   "modify_metadef_tag", "delete_metadef_tag", "delete_metadef_tags",
                   "add_metadef_resource_type_association",
                   "remove_metadef_resource_type_association"]
RULES += [RuleDefault(name, "rule:authenticated") for name in _METADEF_READS]
RULES += [RuleDefault(name, ADMIN) for name in _METADEF_WRITES]
# Tasks: admin only (Glance's ``tasks_api_access`` default).
RULES += [RuleDefault(name, ADMIN) for name in ("get_task", "get_tasks", "add_task")]

register(RULES)

"""kumo.tools.tempest_conf.discover against a real ``kumo up`` (what `make tempest`
writes into tempest.conf)."""
from __future__ import annotations

from kumo.tools import tempest_conf


def test_discover_reads_the_cloud(cloud, admin):
    facts = tempest_conf.discover(cloud.url, "secret")
    try:
        cirros = next(iter(admin.image.images(name="cirros")))
        assert facts.image_ref == cirros.id
        alt = admin.image.get_image(facts.image_ref_alt)
        assert alt.id != cirros.id and alt.name == tempest_conf.ALT_IMAGE_NAME
        assert alt.status == "active" and alt.size == cirros.size
        assert alt.checksum == cirros.checksum and alt.visibility == "public"
        flavors = {f.name: f.id for f in admin.compute.flavors()}
        assert (facts.flavor_ref, facts.flavor_ref_alt) == (flavors["m1.nano"],
                                                            flavors["m1.micro"])
        public = admin.network.find_network("public")
        assert facts.public_network_id == public.id
        assert "router" in facts.network_extensions
        assert facts.compute_max_microversion == "2.96"
        assert facts.compute_hosts == 2  # the two fake compute hosts (tests/conftest.py)
        assert facts.volume_max_microversion.startswith("3.") and facts.volume_max_microversion != "3.0"
        # a second run reuses the alternate image
        assert tempest_conf.discover(cloud.url, "secret").image_ref_alt == alt.id
        text = tempest_conf.render(facts)
        assert f"image_ref_alt = {alt.id}" in text
    finally:
        for image in admin.image.images(name=tempest_conf.ALT_IMAGE_NAME):
            admin.image.delete_image(image)

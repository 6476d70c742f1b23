"""The tempest.conf writer (kumo/tools/tempest_conf.py, used by `make tempest`)."""
import configparser

import pytest

from kumo import config
from kumo.tools import tempest_conf


def _facts(**over):
    values = dict(url="http://127.0.0.1:5123/", admin_password="pw", image_ref="img-1", image_ref_alt="img-2",
                  flavor_ref="42", flavor_ref_alt="84", public_network_id="net-1",
                  network_extensions=["router", "external-net", "agent"],
                  compute_max_microversion="2.96", volume_max_microversion="3.71")
    values.update(over)
    return tempest_conf.CloudFacts(**values)


def _parse(text):
    c = configparser.ConfigParser(interpolation=None)
    c.read_string(text)
    return c


def test_render_points_tempest_at_the_cloud():
    c = _parse(tempest_conf.render(_facts()))
    assert c["identity"]["uri_v3"] == "http://127.0.0.1:5123/identity/v3"
    assert c["identity"]["auth_version"] == "v3"
    assert c["auth"]["admin_username"] == "admin"
    assert c["auth"]["admin_password"] == "pw"
    assert c["auth"]["admin_project_name"] == "admin"
    assert c.getboolean("auth", "use_dynamic_credentials")
    assert (c["compute"]["image_ref"], c["compute"]["image_ref_alt"]) == ("img-1", "img-2")
    assert (c["compute"]["flavor_ref"], c["compute"]["flavor_ref_alt"]) == ("42", "84")
    assert c["compute"]["max_microversion"] == "2.96"
    assert c["volume"]["max_microversion"] == "3.71"
    assert c["volume"]["catalog_type"] == "block-storage"
    # what Kumo's pools report, and manage/unmanage, which Kumo offers
    assert c["volume"]["vendor_name"] == "Kumo"
    assert c.getboolean("volume-feature-enabled", "manage_volume")
    assert not c.getboolean("volume-feature-enabled", "manage_snapshot")
    assert c["network"]["public_network_id"] == "net-1"
    assert c["network"]["floating_network_name"] == "public"
    assert c["network-feature-enabled"]["api_extensions"] == "agent,external-net,router"


def test_render_services_and_safety():
    c = _parse(tempest_conf.render(_facts()))
    avail = c["service_available"]
    for svc in ("keystone", "nova", "neutron", "glance", "cinder"):
        assert avail.getboolean(svc), svc
    for svc in ("swift", "heat", "placement", "octavia"):
        assert not avail.getboolean(svc), svc
    # Tempest never sends traffic to the servers
    assert not c.getboolean("validation", "run_validation")
    assert not c.getboolean("compute-feature-enabled", "vnc_console")
    assert not c.getboolean("compute-feature-enabled", "live_migration")
    assert c.getboolean("compute-feature-enabled", "stable_rescue")
    assert not c.getboolean("identity-feature-enabled", "api_v2")
    assert c.getboolean("image-feature-enabled", "api_v2")
    assert not c.getboolean("image-feature-enabled", "image_format_enforcement")


def test_console_output_only_with_real_servers():
    fake = _parse(tempest_conf.render(_facts()))
    real = _parse(tempest_conf.render(_facts(real_servers=True)))
    assert not fake.getboolean("compute-feature-enabled", "console_output")
    assert real.getboolean("compute-feature-enabled", "console_output")


def test_config_drive_only_where_guests_can_mount_it(monkeypatch):
    assert not _parse(tempest_conf.render(_facts(real_servers=True))).getboolean(
        "compute-feature-enabled", "config_drive")
    c = _parse(tempest_conf.render(_facts(real_servers=True, config_drive=True)))
    assert c.getboolean("compute-feature-enabled", "config_drive")
    from kumo.agent.virt import configdrive
    monkeypatch.setattr(configdrive, "available", lambda: False)
    assert not tempest_conf.config_drive_usable()  # no genisoimage: no drives at all


def test_log_file_and_no_extensions():
    c = _parse(tempest_conf.render(_facts(log_file="/tmp/t.log", network_extensions=[])))
    assert c["DEFAULT"]["log_file"] == "/tmp/t.log"
    assert c["network-feature-enabled"]["api_extensions"] == "None"


@pytest.mark.parametrize("url", ["http://10.0.0.1:5000", "http://example.com:5000",
                                 "http://[2001:db8::1]:5000"])
def test_discover_refuses_non_loopback(url):
    with pytest.raises(ValueError, match="loopback"):
        tempest_conf.discover(url, "pw")


def test_validation_off_with_the_fake_data_plane():
    c = _parse(tempest_conf.render(_facts(real_servers=False)))
    assert not c.getboolean("validation", "run_validation")
    assert not c.getboolean("compute-feature-enabled", "console_output")


def test_validation_with_real_servers_sshs_in_through_a_floating_ip():
    c = _parse(tempest_conf.render(_facts(real_servers=True)))
    v = c["validation"]
    assert v.getboolean("run_validation")
    assert v.getboolean("security_group") and v.getboolean("security_group_rules")
    assert v["connect_method"] == "floating"
    assert v["auth_method"] == "keypair"
    assert v["ip_version_for_ssh"] == "4"
    # Nova-generated keys are RSA; Tempest's default (ecdsa) would make its own
    assert v["ssh_key_type"] == "rsa"
    # the cirros image's user and documented password (kumo.image.cirros)
    assert (v["image_ssh_user"], v["image_ssh_password"]) == ("cirros", "gocubsgo")
    assert v["image_alt_ssh_user"] == "cirros"
    assert v["network_for_ssh"] == "public"
    for opt in ("ping_timeout", "connect_timeout", "ssh_timeout"):
        assert 0 < v.getint(opt) <= 300, opt
    assert c.getboolean("compute-feature-enabled", "console_output")
    # the floating IPs come from the cloud's own external network
    assert c["network"]["public_network_id"] == "net-1"


def test_security_compliance_follows_the_clouds_settings(tmp_path, monkeypatch):
    """The options come from the cloud's settings as Kumo's loader reads them: its
    state directory's kumo.yaml, then the ``KUMO_*`` environment."""
    for name in ("LOCKOUT_FAILURE_ATTEMPTS", "LOCKOUT_DURATION_S",
                 "UNIQUE_LAST_PASSWORD_COUNT", "CONFIG", "STATE_DIR"):
        monkeypatch.delenv("KUMO_" + name, raising=False)
    off = _parse(tempest_conf.render(_facts()))
    assert off["identity-feature-enabled"]["security_compliance"] == "false"
    assert "user_lockout_failure_attempts" not in off["identity"]
    assert tempest_conf.compliance_from_settings(config.load(str(tmp_path))) == {}
    (tmp_path / "kumo.yaml").write_text(
        "lockout_failure_attempts: 3\nlockout_duration_s: 5\n"
        "unique_last_password_count: 2\n")
    facts = _facts(security_compliance=tempest_conf.compliance_from_settings(
        config.load(str(tmp_path))))
    on = _parse(tempest_conf.render(facts))
    assert on["identity-feature-enabled"]["security_compliance"] == "true"
    assert on["identity"]["user_lockout_failure_attempts"] == "3"
    assert on["identity"]["user_lockout_duration"] == "5"
    assert on["identity"]["user_unique_last_password_count"] == "2"
    # the environment wins over the file, as for the cloud itself; without the
    # settings argument the loader runs (KUMO_STATE_DIR names the directory)
    monkeypatch.setenv("KUMO_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("KUMO_LOCKOUT_DURATION_S", "60")
    assert tempest_conf.compliance_from_settings()["user_lockout_duration"] == "60"
    # lockout without password history: Tempest's tests need both, so off
    monkeypatch.setenv("KUMO_UNIQUE_LAST_PASSWORD_COUNT", "0")
    assert tempest_conf.compliance_from_settings() == {}


def test_multinode_and_live_migration_follow_the_hosts():
    one = _parse(tempest_conf.render(_facts()))
    assert one["compute"]["min_compute_nodes"] == "1"
    assert not one.getboolean("compute-feature-enabled", "live_migration")
    two = _parse(tempest_conf.render(_facts(compute_hosts=2)))
    assert two["compute"]["min_compute_nodes"] == "2"
    assert two.getboolean("compute-feature-enabled", "live_migration")
    # between netns hosts a live migration restarts the guest: not offered to Tempest
    real = _parse(tempest_conf.render(_facts(compute_hosts=2, real_servers=True)))
    assert not real.getboolean("compute-feature-enabled", "live_migration")

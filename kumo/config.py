"""Kumo settings: defaults, then an optional YAML file, then ``KUMO_*`` environment
variables, then command-line flags (applied by :mod:`kumo.cli`).

The YAML file is ``<state_dir>/kumo.yaml`` unless ``KUMO_CONFIG`` names another one.
Keys are the attribute names of :class:`Settings`.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import yaml


def _default_state_dir() -> str:
    if os.geteuid() == 0:
        return "/var/lib/kumo"
    return str(Path.home() / ".local" / "state" / "kumo")


@dataclasses.dataclass
class Settings:
    """Every knob Kumo has; units are in the field names where they matter."""

    state_dir: str = dataclasses.field(default_factory=_default_state_dir)
    #: SQLAlchemy URL; empty means SQLite (WAL) at ``<state_dir>/kumo.db``.
    database_url: str = ""
    host: str = "127.0.0.1"
    port: int = 5000
    #: The URL clients use to reach this server; empty means ``http://host:port``.
    public_url: str = ""
    region: str = "RegionOne"
    #: Lifetime of an issued token, in seconds (Keystone's ``[token] expiration``).
    token_expiration_s: int = 3600
    #: bcrypt cost factor for passwords and application credential secrets.
    bcrypt_rounds: int = 12
    #: Number of Fernet keys kept in the key repository (primary + secondaries).
    fernet_max_active_keys: int = 3
    #: An operator's oslo.policy override file; empty means ``<state_dir>/policy.yaml``.
    policy_file: str = ""
    #: Keystone's ``[DEFAULT] list_limit``: lists longer than this are truncated.
    list_limit: int = 0
    #: Largest page a paginated list returns (Nova's ``[api] max_limit``, Glance's
    #: ``api_limit_max``): a larger ``limit`` is cut to this (see kumo/common/listing.py).
    api_max_limit: int = 1000
    admin_password: str = "secret"
    demo_password: str = "secret"
    #: Worker threads that run request handlers (DB work, bcrypt).
    worker_threads: int = 40
    #: PostgreSQL connections each API process keeps open (``pool_size``) and may open
    #: beyond that under load (``max_overflow``): 10 + 15 = 25 at most, so three
    #: processes fit PostgreSQL's default ``max_connections`` of 100 (see
    #: :class:`kumo.db.Database`). SQLite's pools follow ``worker_threads``.
    db_pool_size: int = 10
    db_max_overflow: int = 15
    #: Seconds between runs of the periodic jobs (:mod:`kumo.common.periodic`: pruning
    #: revocation events, moving routers off dead L3 agents, purging old deleted
    #: servers); each runs once per interval across all API processes.
    periodic_interval_s: float = 60.0
    #: Deleted servers whose rows (and instance actions) are purged this many days
    #: after deletion; 0 keeps them forever.
    compute_purge_deleted_days: int = 30
    #: Nova's ``shelved_offload_time``: 0 offloads a shelved server at once (it
    #: leaves its host), -1 keeps it SHELVED on its host until shelveOffload.
    shelved_offload_time: int = 0
    #: Worker threads for the short hops that move streamed data (writing an upload's
    #: chunks to disk and hashing them, reading a download's chunks), apart from
    #: ``worker_threads`` so data transfers never starve API requests of threads.
    data_threads: int = 8
    #: Seconds a request body may send nothing before the request is aborted with 408
    #: (a failed upload leaves its image ``queued``, no data kept). 0 waits forever.
    body_idle_timeout_s: float = 30.0
    #: How often (s) an API process checks whether another process changed identity
    #: data (its caches follow). Local changes apply at once; 0 checks on every request.
    cache_recheck_s: float = 1.0
    #: Addresses or networks of the front proxies whose headers the federated
    #: (``mapped``) authentication trusts (Keystone's REMOTE_USER / ``OIDC-*`` /
    #: ``SSL_CLIENT_*`` way). Empty (the default): federated authentication is
    #: refused with 401. The proxy must drop client-sent headers of those names.
    federation_trusted_proxies: list = dataclasses.field(default_factory=list)
    #: The header naming the identity provider (its remote id) when a protocol sets
    #: no ``remote_id_attribute`` (Keystone's ``[federation] remote_id_attribute``).
    federation_remote_id_attribute: str = ""
    #: Minutes a federated user's mapped group memberships last when the identity
    #: provider sets no ``authorization_ttl``; 0: until the next login through it.
    federation_default_authorization_ttl: int = 0
    #: Default ``relay_state_prefix`` of service providers (Keystone's).
    federation_relay_state_prefix: str = "ss:mem:"
    #: Origins (dashboard URLs) WebSSO may post a token to (Keystone's
    #: ``[federation] trusted_dashboard``).
    federation_trusted_dashboards: list = dataclasses.field(default_factory=list)
    #: Lifetimes (s) of OAuth1 request and access tokens (Keystone's
    #: ``[oauth1] request_token_duration`` / ``access_token_duration``); 0: no expiry.
    oauth1_request_token_duration_s: int = 28800
    oauth1_access_token_duration_s: int = 86400
    #: Keystone's ``[security_compliance]`` (PCI-DSS) options, all off by default
    #: (see kumo/identity/compliance.py). ``lockout_failure_attempts`` consecutive
    #: failed password logins (0: never) lock a user for ``lockout_duration_s`` seconds
    #: (0: for good; Keystone's ``lockout_duration``, default 1800).
    lockout_failure_attempts: int = 0
    lockout_duration_s: int = 1800
    #: A new password may not equal any of the user's last N (1: no history check).
    unique_last_password_count: int = 0
    #: Days before users may change their own password again (admin resets bypass it).
    minimum_password_age_days: int = 0
    #: A new password must match this regex (Python ``re.match``); the description is
    #: the 400's message.
    password_regex: str = ""
    password_regex_description: str = ""
    #: Days a password lasts (``password_expires_at`` in the user body); 0: forever.
    password_expires_days: int = 0
    #: A password set by an admin (user create or reset) must be changed by the user
    #: before a token is issued.
    change_password_upon_first_use: bool = False
    #: Physical networks that flat networks may use; ``public`` is bridged to ``br-ex``.
    physical_networks: list = dataclasses.field(default_factory=lambda: ["public"])
    #: MTU of the physical network; VXLAN networks get 50 bytes less.
    physnet_mtu: int = 1500
    #: VXLAN VNI ranges for tenant networks, ``"low:high[,low:high]"``.
    vni_ranges: str = "1:1000"
    #: Default quotas per project (Neutron's defaults); -1 is unlimited.
    quota_network: int = 100
    quota_subnet: int = 100
    quota_port: int = 500
    quota_router: int = 10
    quota_floatingip: int = 50
    quota_security_group: int = 10
    quota_security_group_rule: int = 100
    quota_subnetpool: int = -1
    quota_rbac_policy: int = 10
    #: Seconds without a heartbeat after which an agent is shown as not alive
    #: (Neutron's ``agent_down_time``).
    agent_down_time_s: int = 75
    #: New routers are highly available (keepalived/VRRP) unless the request says
    #: ``ha`` (Neutron's ``l3_ha``).
    l3_ha: bool = False
    #: L3 agents an HA router is scheduled to (Neutron's ``max_l3_agents_per_router``).
    max_l3_agents_per_router: int = 3
    #: Fewest L3 agents an HA router should have (Neutron's
    #: ``min_l3_agents_per_router``); with fewer alive, it is scheduled to those there
    #: are and the heartbeat of a new L3 agent tops it up.
    min_l3_agents_per_router: int = 2
    #: The subnet of the hidden per-project HA networks (Neutron's ``l3_ha_net_cidr``).
    l3_ha_net_cidr: str = "169.254.192.0/18"
    #: The image store's directory (Glance's ``filesystem_store_datadir``); empty
    #: means ``<state_dir>/images``. Several API processes (``kumo api``) must share
    #: one directory (a shared filesystem such as NFS), or an image uploaded through
    #: one could not be downloaded through another.
    image_store_dir: str = ""
    #: Most bytes of image data the image store (``image_store_dir``) holds in
    #: total; an upload past it is refused with 413. 0 means no limit.
    image_store_quota_bytes: int = 0
    #: Image uploads and stagings a project may have in progress at once in one API
    #: process; one more is refused with 413 (as Glance's ``image_count_uploading``
    #: quota). 0 means no limit.
    max_concurrent_uploads_per_project: int = 10
    #: Block storage backends (Cinder's ``enabled_backends``), each ``name:driver``
    #: (``file``: sparse files under ``volume_dir``; ``fake``: no data, for tests and
    #: scale). Each backend gets a volume type of its name; ``__DEFAULT__`` uses the
    #: first.
    volume_backends: list = dataclasses.field(default_factory=lambda: ["file-1:file"])
    #: Where the ``file`` backends keep volumes; empty means ``<state_dir>/volumes``.
    volume_dir: str = ""
    #: The backup store's directory; empty means ``<state_dir>/backups``.
    volume_backup_dir: str = ""
    #: GiB each backend may hand out (thin: files are sparse); past it a create is 400.
    volume_backend_capacity_gb: int = 1000
    #: Cinder's default quotas per project (-1: unlimited).
    volume_quota_volumes: int = 10
    volume_quota_gigabytes: int = 1000
    volume_quota_snapshots: int = 10
    volume_quota_backups: int = 10
    volume_quota_backup_gigabytes: int = 1000
    volume_quota_per_volume_gigabytes: int = -1
    volume_quota_groups: int = 10
    #: Keep a per-backend cached copy of each image written to a volume, so the next
    #: volume from that image is a copy of it (Cinder's image-volume cache).
    volume_image_cache: bool = True
    #: The image cache's limits per backend (Cinder's ``image_volume_cache_max_size_gb``
    #: and ``_max_count``; 0: none): past either, the least recently used entries are
    #: evicted (apparent file sizes, GiB).
    volume_image_cache_max_size_gb: int = 0
    volume_image_cache_max_count: int = 0
    #: Seconds an attachment of Nova's flow may stay ``attaching``/``detaching``
    #: waiting for its compute agent; then ``error_attaching`` / back to ``in-use``
    #: (checked by the periodic jobs, every ``periodic_interval_s``).
    volume_attach_timeout_s: float = 300.0
    #: Seconds a Block Storage user message is kept (Cinder's ``message_ttl``).
    volume_message_ttl_s: int = 2592000
    #: The machine's own data plane in ``kumo up`` (:mod:`kumo.agent.local`): ``auto``
    #: (the real drivers when root with the tools installed, else none), ``real``,
    #: ``fake`` (fake network and compute drivers) or ``off`` (API only).
    dataplane: str = "auto"
    #: Let traffic from the external bridges (``br-ex``) be forwarded out of other
    #: devices (the uplink). Off: ``kumo up`` installs a guard that drops it.
    external_uplink_forwarding: bool = False
    #: ``kumo up`` runs one data-plane agent in-process for this machine (set from
    #: ``dataplane`` by ``kumo up``).
    agent_in_process: bool = False
    #: The agent's drivers, by registry name (:mod:`kumo.agent.drivers`): ``linuxbridge``,
    #: ``firewall``, ``dhcp``, ``l3``, ``metadata``, or ``fake``.
    agent_drivers: list = dataclasses.field(default_factory=lambda: ["fake"])
    #: The host name the agent serves (ports' ``binding:host_id``); empty means the
    #: machine's hostname.
    agent_host: str = ""
    #: The L3 agent's ``agent_mode`` (Neutron's): ``legacy`` (routers scheduled here
    #: whole), ``dvr`` (a compute host: distributed routers' east-west and floating IPs
    #: for its own ports) or ``dvr_snat`` (``dvr`` plus distributed routers' SNAT and
    #: legacy routers). :mod:`kumo.agent.dvr`.
    agent_mode: str = "legacy"

    #: this host's availability zone for its DHCP and L3 agents (Neutron's agent
    #: ``availability_zone``; networks' and routers' zone hints pick agents by it)
    agent_availability_zone: str = "nova"
    #: Seconds between agent heartbeats (Neutron's ``report_interval``).
    agent_heartbeat_s: float = 30.0
    #: Seconds between full resyncs (every object reconciled again, orphans cleaned).
    agent_resync_s: float = 120.0
    #: Threads reconciling objects in parallel (one object is never reconciled twice
    #: at once).
    agent_workers: int = 4
    #: Longest wait (s) of one long poll of the change feed.
    agent_wait_s: float = 20.0
    #: This host's underlay (VXLAN tunnel) address, as the Linux bridge driver uses it.
    agent_tunneling_ip: str = ""
    #: The device carrying the underlay (optional; VXLAN devices bind to it).
    agent_underlay_dev: str = ""
    #: Physical network -> bridge, for flat networks (``public`` is DevStack's br-ex).
    agent_bridge_mappings: dict = dataclasses.field(default_factory=lambda: {"public": "br-ex"})
    #: The underlay of ``kumo up --hosts N`` (:mod:`kumo.hosts`): the bridge
    #: ``kumo-underlay`` holds the first address (the machine's tunnelling address,
    #: where simulated hosts reach the API), simulated hosts the next ones.
    underlay_cidr: str = "10.255.0.0/24"
    #: The secret the metadata proxy signs instance ids with (Neutron's and Nova's
    #: ``metadata_proxy_shared_secret``); empty: generated once into
    #: ``<state_dir>/metadata_secret`` (see :meth:`metadata_secret`).
    metadata_proxy_shared_secret: str = ""
    #: The agents' service user: ``kumo up`` bootstraps it in project
    #: ``agent_project_name`` with the ``service`` role only (not admin), and its own
    #: agents and ``kumo agent`` log in as it (clouds.yaml cloud ``kumo-agent``).
    agent_username: str = "kumo-agent"
    agent_project_name: str = "service"
    #: Its password; empty: generated once into ``<state_dir>/agent_password``
    #: (see :meth:`agent_secret`). Agents on other hosts are given the setting.
    agent_password: str = ""
    #: Nova's metadata API as the agents' metadata proxy reaches it; empty: ``/metadata``
    #: beside the catalog's compute endpoint (where Kumo serves it).
    agent_metadata_url: str = ""
    # -- the compute agent (kumo/agent/compute.py, compute drivers in kumo/agent/virt/) --
    #: The compute driver of ``kumo agent`` and of ``kumo up``'s own host: ``""`` (no
    #: compute agent), ``"fake"`` (nothing runs) or ``"netns"`` (namespaces running the
    #: image's init).
    agent_compute_driver: str = ""
    #: ``kumo up`` starts this many in-process compute agents ``fake-0``..``fake-{N-1}``
    #: with the fake driver (``kumo up --fake-compute-hosts N``).
    compute_fake_hosts: int = 0
    #: Fake hosts whose every boot fails (to exercise the scheduler's retries).
    agent_compute_fake_fail_hosts: list = dataclasses.field(default_factory=list)
    #: The capacity each fake host reports: vCPUs, RAM (MiB), disk (GiB).
    agent_compute_fake_vcpus: int = 64
    agent_compute_fake_memory_mb: int = 131072
    agent_compute_fake_local_gb: int = 2048
    #: Seconds between polls of instance status and console (changes are reported).
    agent_compute_status_interval_s: float = 0.5
    #: Seconds between looks at each instance's diagnostics counters (CPU, memory,
    #: NICs, disks); sent with a status report when they changed.
    agent_compute_diagnostics_interval_s: float = 10.0
    #: Seconds init gets after SIGTERM (stop, soft reboot) before SIGKILL.
    agent_compute_stop_grace_s: float = 5.0

    # -- Compute (Nova v2.1): scheduler and default quotas ---------------------------
    #: Boot attempts on different hosts before a server goes to ERROR (Nova's
    #: ``[scheduler] max_attempts``).
    scheduler_max_attempts: int = 3
    #: Overcommit ratios of the RAM/vCPU/disk filters (Nova's ``*_allocation_ratio``).
    scheduler_cpu_allocation_ratio: float = 16.0
    scheduler_ram_allocation_ratio: float = 1.5
    scheduler_disk_allocation_ratio: float = 1.0
    #: The availability zone of hosts that do not report one, and of servers that ask
    #: for none (Nova's ``default_availability_zone``).
    compute_default_availability_zone: str = "nova"
    #: Largest ``user_data`` (base64 text) a server may carry, in bytes (Nova: 65535).
    compute_max_user_data_bytes: int = 65535
    #: Every new server gets a config drive, asked for or not (Nova's
    #: ``force_config_drive``).
    compute_force_config_drive: bool = False
    #: Default quotas per project (Nova's defaults); -1 is unlimited.
    quota_instances: int = 10
    quota_cores: int = 20
    quota_ram: int = 51200
    quota_key_pairs: int = 100
    quota_server_groups: int = 10
    quota_server_group_members: int = 10
    quota_metadata_items: int = 128

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{Path(self.state_dir) / 'kumo.db'}"

    @property
    def vni_range_list(self) -> list[tuple[int, int]]:
        out = []
        for part in str(self.vni_ranges).split(","):
            low, _, high = part.strip().partition(":")
            out.append((int(low), int(high or low)))
        return out

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = self.host if self.host not in ("0.0.0.0", "::") else "127.0.0.1"
        return f"http://{host}:{self.port}"

    @property
    def policy_path(self) -> Path:
        return Path(self.policy_file) if self.policy_file else Path(self.state_dir) / "policy.yaml"

    @property
    def fernet_key_dir(self) -> Path:
        """Where Fernet keys lived before they moved into the database (read once, on
        the first start after the upgrade, by :mod:`kumo.identity.tokens`)."""
        return Path(self.state_dir) / "fernet-keys"

    @property
    def image_store_path(self) -> Path:
        return Path(self.image_store_dir) if self.image_store_dir \
            else Path(self.state_dir) / "images"

    def agent_secret(self, create: bool = True) -> str:
        """The agent user's password: the ``agent_password`` setting, else the content
        of ``<state_dir>/agent_password``, created (mode 0600, 64 hex digits) on first
        use unless ``create`` is false (then ``""`` when there is none)."""
        if self.agent_password:
            return self.agent_password
        path = Path(self.state_dir) / "agent_password"
        if not create:
            try:
                return path.read_text().strip()
            except OSError:
                return ""
        return _state_secret(path)

    def metadata_secret(self) -> str:
        """The metadata shared secret: the setting, else the content of
        ``<state_dir>/metadata_secret``, created (mode 0600, 64 hex digits) on first use.
        The API and every agent on the machine share the file; agents on other hosts
        are given the setting. API processes agree on one secret through the database:
        on start each one writes the database's secret into this file (or stores the
        file's there if the database has none; :func:`kumo.identity.tokens.
        share_metadata_secret`)."""
        if self.metadata_proxy_shared_secret:
            return self.metadata_proxy_shared_secret
        return _state_secret(Path(self.state_dir) / "metadata_secret")


def _state_secret(path: Path) -> str:
    """The secret in ``path``, created when missing: 64 random hex digits written to a
    temporary 0600 file that is then hard-linked into place, so the file never exists
    half-written and concurrent first uses agree (the loser reads the winner's)."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    import secrets
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_text().strip()


def _bool(text: str) -> bool:
    return text.strip().lower() in ("1", "true", "yes", "on")


def _dict(value: str) -> dict:
    """``"a:b,c:d"`` -> ``{"a": "b", "c": "d"}`` (for settings given as environment)."""
    pairs = (item.split(":", 1) for item in value.split(",") if item.strip())
    return {k.strip(): v.strip() for k, v in pairs}


def _list(text: str) -> list:
    return [part.strip() for part in text.split(",") if part.strip()]


def load(state_dir: str | None = None, **overrides) -> Settings:
    """Build :class:`Settings` from defaults, file, environment and ``overrides``.

    ``overrides`` whose value is ``None`` are ignored, so CLI flags can be passed through.
    Raises ``ValueError`` for an unknown key in the file.
    """
    settings = Settings()
    if state_dir or os.environ.get("KUMO_STATE_DIR"):
        settings.state_dir = state_dir or os.environ["KUMO_STATE_DIR"]
    path = Path(os.environ.get("KUMO_CONFIG", Path(settings.state_dir) / "kumo.yaml"))
    fields = {f.name: f for f in dataclasses.fields(Settings)}
    if path.is_file():
        data = yaml.safe_load(path.read_text()) or {}
        for key, value in data.items():
            if key not in fields:
                raise ValueError(f"{path}: unknown setting {key!r}")
            setattr(settings, key, value)
    for name, field in fields.items():
        env = os.environ.get(f"KUMO_{name.upper()}")
        if env is not None and name != "state_dir":
            kind = {"int": int, "float": float, "bool": _bool,
                    "list": _list, "dict": _dict}.get(field.type, str)
            setattr(settings, name, kind(env))
    for key, value in overrides.items():
        if value is not None:
            setattr(settings, key, value)
    return settings

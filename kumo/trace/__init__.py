"""``kumo trace <server|port|floating-ip>``: the Sydney 2017 troubleshooting workflow in
one command (README "Troubleshooting").

- :mod:`kumo.trace.tracer`: resolving the target and the API's checks;
- :mod:`kumo.trace.kernel`: the checks of a reachable host's kernel, the probe, the
  capture;
- :mod:`kumo.trace.rules`: whether security group rules let a probe in (pure);
- :mod:`kumo.trace.report`: the findings, their text/JSON output and the pure readers
  (console log, dnsmasq host file, FDB, NAT table, logs, captures).
"""
from __future__ import annotations

import sys


def main(args) -> int:
    """Run ``kumo trace`` with the parsed ``args`` (target, protocol, port, source,
    trace_logs, os_cloud, json); print the findings; 0 when nothing failed, 1 otherwise
    (2 when the target is not found)."""
    from kumo import config
    from kumo.trace import report, tracer

    settings = config.load(args.state_dir)
    if args.protocol in ("tcp", "udp") and args.port is not None \
            and not 0 < args.port < 65536:
        print("kumo trace: --port must be 1..65535", file=sys.stderr)
        return 2
    if args.protocol == "icmp" and args.port is not None:
        print("kumo trace: --port is for --protocol tcp|udp", file=sys.stderr)
        return 2
    conn = tracer.connect(settings.state_dir, args.os_cloud)
    t = tracer.Tracer(conn, tracer.local_hosts(settings), protocol=args.protocol,
                      port=args.port, source=args.source,
                      log_files=args.trace_logs or [])
    try:
        target = t.run(args.target)
    except tracer.TraceError as e:
        print(f"kumo trace: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 - the API refused or is unreachable
        from openstack import exceptions as os_exc
        from requests import HTTPError

        if not isinstance(e, (os_exc.SDKException, HTTPError, ConnectionError)):
            raise
        print(f"kumo trace: the API answered {type(e).__name__}: {str(e)[:300]} (the "
              "trace needs an admin cloud: --os-cloud kumo-admin)", file=sys.stderr)
        return 2
    finally:
        conn.close()
    if args.json:
        print(report.as_json(target, t.checks))
    else:
        print(report.text(t.checks))
    return report.exit_status(t.checks)

"""Passed/failed/skipped per service from a Tempest run's subunit stream (run with
.venv-tempest's python, which has python-subunit and testtools; scripts/tempest.sh).

    python scripts/tempest_summary.py [--list LIST] [--seconds N] last.subunit

With ``--list``, tests of the list that did not run at all (not found, not collected)
are counted as "not run". Prints a Markdown table, then the failing and not-run tests;
exits 1 when any test failed or did not run.
"""
from __future__ import annotations

import argparse
import re
import sys

import subunit
import testtools

#: tempest.api.<area> -> the service's name in the table.
SERVICES = {"identity": "keystone", "compute": "nova", "network": "neutron",
            "image": "glance", "volume": "cinder", "object_storage": "swift"}
ORDER = ["keystone", "nova", "neutron", "glance", "cinder", "swift", "other"]


def service(test_id: str) -> str:
    m = re.match(r"tempest\.(?:api|scenario)\.(\w+)\.", test_id)
    return SERVICES.get(m.group(1), "other") if m else "other"


def plain(test_id: str) -> str:
    return test_id.split("[", 1)[0]


def read(path: str) -> dict[str, str]:
    """test id (without attributes) -> status (success, fail, skip, ...)."""
    results: dict[str, str] = {}

    def on_test(test: dict) -> None:
        tid = test["id"]
        if tid.startswith(("setUpClass", "tearDownClass")) or "(" in tid:
            # a class fixture failing: "setUpClass (tempest.api....Class)"
            m = re.search(r"\((.*)\)", tid)
            tid = f"{m.group(1)}.<class fixture>" if m else tid
        if test["status"] in ("success", "fail", "skip", "xfail", "uxsuccess"):
            results[plain(tid)] = test["status"]

    with open(path, "rb") as fh:
        stream = subunit.ByteStreamToStreamResult(fh, non_subunit_name="stdout")
        result = testtools.StreamToDict(on_test)
        result.startTestRun()
        try:
            stream.run(result)
        finally:
            result.stopTestRun()
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("subunit")
    p.add_argument("--list", help="the list the run was given")
    p.add_argument("--seconds", type=int, default=None)
    a = p.parse_args(argv)
    results = read(a.subunit)
    wanted: list[str] = []
    if a.list:
        with open(a.list) as fh:
            wanted = [plain(line.strip()) for line in fh if line.strip()]
    rows = {s: {"passed": 0, "failed": 0, "skipped": 0, "not run": 0} for s in ORDER}
    failed, missing = [], []
    # a class fixture (setUpClass) that failed or skipped stands for its tests
    fixtures = {t.rsplit(".", 1)[0]: st for t, st in results.items()
                if t.endswith(".<class fixture>")}
    counted = dict(results)
    for tid in wanted:
        st = fixtures.get(tid.rsplit(".", 1)[0])
        if tid not in counted and st is not None:
            counted[tid] = st
    if wanted:  # the fixtures are counted through their listed tests
        counted = {t: st for t, st in counted.items()
                   if not t.endswith(".<class fixture>")}
    for tid, status in sorted(counted.items()):
        row = rows[service(tid)]
        if status in ("success", "xfail"):
            row["passed"] += 1
        elif status == "skip":
            row["skipped"] += 1
        else:
            row["failed"] += 1
            failed.append(tid)
    for tid in wanted:
        if tid not in counted:
            missing.append(tid)
            rows[service(tid)]["not run"] += 1
    print()
    print("| service | passed | failed | skipped | not run |")
    print("|---|---|---|---|---|")
    total = {"passed": 0, "failed": 0, "skipped": 0, "not run": 0}
    for s in ORDER:
        r = rows[s]
        if not any(r.values()):
            continue
        for k in total:
            total[k] += r[k]
        print(f"| {s} | {r['passed']} | {r['failed']} | {r['skipped']} | {r['not run']} |")
    print(f"| total | {total['passed']} | {total['failed']} | {total['skipped']} "
          f"| {total['not run']} |")
    if a.seconds is not None:
        print(f"\nrun time: {a.seconds} s")
    if failed:
        print("\nfailed:")
        for tid in failed:
            print(f"  {tid}")
    if missing:
        print("\nnot run (no result in the stream; a class fixture may have failed):")
        for tid in missing:
            print(f"  {tid}")
    return 1 if failed or missing else 0


if __name__ == "__main__":
    sys.exit(main())

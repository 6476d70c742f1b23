#!/usr/bin/env python3
"""Dashboard benchmark: time to first render of the instances and topology pages with
200 servers on 20 networks (issue 18's aim: under 1 s each on this machine).

A throw-away ``kumo up --fake-compute-hosts 4`` (loopback only, the fake virt driver,
no data plane). As admin: unlimited quotas, ``--networks`` (20) networks with a
subnet each, all on one router with its gateway on ``public``, ``--servers`` (200)
servers spread evenly over the networks (created in batches with ``min_count``), all
ACTIVE. Then, logged in to the dashboard as admin:

- server side (httpx, ``--repeat`` times): the instances page (its rows are in the
  HTML, so the page is its first render) and the topology page plus its
  ``topology.json`` (what the graph is drawn from); p50 and max.
- in a browser (headless Debian chromium through Selenium, when present): from the
  navigation's start to the instances page's DOMContentLoaded, and to the topology
  graph's first drawing (``data-rendered-ms``, set by the page's script); p50 and max.

    .venv/bin/python benchmarks/dashboard.py [--servers 200] [--networks 20] [--repeat 5]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import machine_facts, start_server, stop_server  # noqa: E402


def admin_client(base: str) -> tuple[httpx.Client, str]:
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": "secret"}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
    resp = httpx.post(base + "/identity/v3/auth/tokens", json=body)
    resp.raise_for_status()
    client = httpx.Client(base_url=base, timeout=120, headers={
        "X-Auth-Token": resp.headers["X-Subject-Token"],
        "OpenStack-API-Version": "compute 2.47"})
    return client, resp.json()["token"]["project"]["id"]


def ok(resp: httpx.Response) -> dict:
    if resp.status_code >= 400:
        raise RuntimeError(f"{resp.request.method} {resp.request.url}: "
                           f"{resp.status_code} {resp.text[:300]}")
    return resp.json() if resp.content else {}


def populate(api: httpx.Client, project: str, networks: int, servers: int) -> None:
    ok(api.put(f"/compute/v2.1/os-quota-sets/{project}", json={"quota_set": {
        "instances": -1, "cores": -1, "ram": -1}}))
    ok(api.put(f"/networking/v2.0/quotas/{project}", json={"quota": {
        "network": -1, "subnet": -1, "port": -1, "router": -1}}))
    public = ok(api.get("/networking/v2.0/networks", params={"name": "public"}))[
        "networks"][0]["id"]
    router = ok(api.post("/networking/v2.0/routers", json={"router": {
        "name": "bench-router", "external_gateway_info": {"network_id": public}}}))[
        "router"]["id"]
    image = ok(api.get("/image/v2/images", params={"name": "cirros"}))["images"][0]["id"]
    per_net = -(-servers // networks)
    made = 0
    for i in range(networks):
        net = ok(api.post("/networking/v2.0/networks", json={"network": {
            "name": f"bench-net-{i:02d}"}}))["network"]["id"]
        subnet = ok(api.post("/networking/v2.0/subnets", json={"subnet": {
            "network_id": net, "ip_version": 4, "cidr": f"10.{100 + i}.0.0/24",
            "name": f"bench-subnet-{i:02d}"}}))["subnet"]["id"]
        ok(api.put(f"/networking/v2.0/routers/{router}/add_router_interface",
                   json={"subnet_id": subnet}))
        count = min(per_net, servers - made)
        if count > 0:
            ok(api.post("/compute/v2.1/servers", json={"server": {
                "name": f"bench-{i:02d}", "imageRef": image, "flavorRef": "42",
                "networks": [{"uuid": net}], "min_count": count, "max_count": count}}))
            made += count
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        listed = ok(api.get("/compute/v2.1/servers/detail", params={"limit": 1000}))[
            "servers"]
        states = [s["status"] for s in listed]
        if "ERROR" in states:
            raise RuntimeError("a server went to ERROR")
        if len(states) >= servers and all(s == "ACTIVE" for s in states):
            return
        time.sleep(1)
    raise RuntimeError("the servers did not all go ACTIVE within 600 s")


def dashboard_login(base: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=120, follow_redirects=True)
    page = client.get("/dashboard/login").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    resp = client.post("/dashboard/login", data={
        "csrf_token": csrf, "domain": "Default", "username": "admin",
        "password": "secret"})
    assert resp.url.path == "/dashboard/project/", resp.status_code
    return client


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def server_side(base: str, repeat: int, servers: int) -> dict:
    client = dashboard_login(base)
    out = {}

    def instances():
        html = client.get("/dashboard/project/instances").text
        assert html.count('class="instance"') >= servers, "not every server listed"

    def topology():
        client.get("/dashboard/project/topology").raise_for_status()
        data = client.get("/dashboard/project/topology.json").json()
        assert len(data["servers"]) >= servers
    for name, fn in (("instances", instances), ("topology", topology)):
        fn()  # warm: templates compiled, caches filled
        times = [timed(fn) for _ in range(repeat)]
        out[name] = (statistics.median(times), max(times))
    return out


def in_browser(base: str, repeat: int) -> dict | str:
    chromium, driver_path = "/usr/bin/chromium", "/usr/bin/chromedriver"
    if not (os.path.exists(chromium) and os.path.exists(driver_path)):
        return "skipped: chromium/chromium-driver missing"
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        return "skipped: selenium missing"
    profile = tempfile.mkdtemp(prefix="kumo-bench-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", "--window-size=1400,1000",
                f"--user-data-dir={profile}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    try:
        driver.get(base + "/dashboard/login")
        driver.find_element("name", "username").send_keys("admin")
        driver.find_element("name", "password").send_keys("secret")
        driver.find_element("css selector", "#login-form button").click()
        deadline = time.monotonic() + 60
        while not driver.find_elements("id", "logout"):
            assert time.monotonic() < deadline, "no login"
            time.sleep(0.05)
        out = {}
        dcl = []
        for _ in range(repeat + 1):
            driver.get(base + "/dashboard/project/instances")
            dcl.append(driver.execute_script(
                "return performance.getEntriesByType('navigation')[0]"
                ".domContentLoadedEventEnd") / 1000)
        out["instances"] = (statistics.median(dcl[1:]), max(dcl[1:]))
        drawn = []
        for _ in range(repeat + 1):
            driver.get(base + "/dashboard/project/topology")
            deadline = time.monotonic() + 60
            while True:
                value = driver.execute_script(
                    "const s = document.getElementById('topology-graph');"
                    "return s && s.getAttribute('data-rendered-ms');")
                if value:
                    break
                assert time.monotonic() < deadline, "the graph was not drawn"
                time.sleep(0.02)
            drawn.append(int(value) / 1000)
        out["topology"] = (statistics.median(drawn[1:]), max(drawn[1:]))
        return out
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--servers", type=int, default=200)
    parser.add_argument("--networks", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    for line in machine_facts():
        print(line)
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} "
          f"{os.getloadavg()[2]:.2f}")
    tmp = Path(tempfile.mkdtemp(prefix="kumo-bench-dashboard-"))
    proc = None
    try:
        proc, port, _ = start_server(tmp, ("--fake-compute-hosts", "4"))
        base = f"http://127.0.0.1:{port}"
        api, project = admin_client(base)
        t0 = time.monotonic()
        populate(api, project, args.networks, args.servers)
        print(f"{args.servers} servers on {args.networks} networks ACTIVE in "
              f"{time.monotonic() - t0:.1f} s")
        for where, result in (("server side", server_side(base, args.repeat, args.servers)),
                              ("browser", in_browser(base, args.repeat))):
            if isinstance(result, str):
                print(f"{where}: {result}")
                continue
            for page, (p50, worst) in result.items():
                print(f"{where:12s} {page:10s} first render p50 {p50 * 1000:6.0f} ms, "
                      f"max {worst * 1000:6.0f} ms")
        print(json.dumps({"load_after": os.getloadavg()[0]}))
    finally:
        if proc is not None:
            stop_server(proc)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

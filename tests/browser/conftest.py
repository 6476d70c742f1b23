"""Fixtures of the dashboard tests: their own ``kumo up`` and a headless Chromium.

The tests here run against a server of their own (one per pytest worker that runs
any of them) (fake compute hosts, no data plane, as the API tests' server). The browser
is Debian's ``chromium`` driven through ``chromium-driver`` by Selenium; nothing
downloads a browser. Without them (or without selenium) the browser tests are skipped
with the reason; the plain-HTTP ones still run. Each page a browser test visits is saved
as a PNG under the pytest temporary directory (``screens/``).
"""
from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from tests.conftest import Cloud, _start
from tests.waiting import stop_process, wait_for

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not (Path(path).exists() or shutil.which(Path(path).name)):
            return f"{path} is missing (Debian package {package}: " \
                   "scripts/install-system-deps.sh --test)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    return None


@dataclass
class User:
    name: str
    password: str
    project: str


@pytest.fixture(scope="session")
def dash_cloud(tmp_path_factory) -> Cloud:
    """A ``kumo up`` (SQLite) for the dashboard tests only."""
    server = _start(tmp_path_factory.mktemp("kumo-dashboard"), None, "sqlite")
    yield server
    stop_process(server.process)


@pytest.fixture(scope="session")
def users(dash_cloud) -> dict[str, User]:
    """``admin`` (admin of project admin) and ``demo`` (member of project demo), from
    the server's clouds.yaml."""
    clouds = yaml.safe_load(dash_cloud.clouds_yaml.read_text())["clouds"]
    out = {}
    for key, cloud in (("admin", "kumo-admin"), ("demo", "kumo")):
        auth = clouds[cloud]["auth"]
        out[key] = User(auth["username"], auth["password"], auth.get("project_name", ""))
    return out


@pytest.fixture(scope="session")
def demo_conn(dash_cloud):
    conn = dash_cloud.connect("kumo")
    yield conn
    conn.close()


def http_login(cloud: Cloud, user: User) -> httpx.Client:
    """An httpx client logged in to the dashboard as ``user`` (through the login form)."""
    client = httpx.Client(base_url=cloud.url, follow_redirects=True, timeout=60)
    page = client.get("/dashboard/login")
    assert page.status_code == 200
    resp = client.post("/dashboard/login", data={
        "csrf_token": csrf_of(page.text), "domain": "Default", "username": user.name,
        "password": user.password, "next": "/dashboard/project/"})
    assert resp.status_code == 200 and resp.url.path == "/dashboard/project/", resp.text
    return client


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


class Browser:
    """A Selenium driver on the dashboard with helpers; ``shot(name)`` saves the page."""

    def __init__(self, driver, base: str, screens: Path):
        self.driver = driver
        self.base = base
        self.screens = screens
        self.count = 0

    def get(self, path: str):
        self.driver.get(self.base + path)

    def shot(self, name: str) -> Path:
        self.count += 1
        path = self.screens / f"{self.count:02d}-{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    def find(self, css: str):
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, css)

    def finds(self, css: str):
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def click(self, css: str):
        """Click the element ``css`` finds, again if a refresh replaced it meanwhile."""
        from selenium.common.exceptions import StaleElementReferenceException

        for attempt in range(5):
            try:
                self.find(css).click()
                return
            except StaleElementReferenceException:
                if attempt == 4:
                    raise

    def wait_css(self, css: str, what: str, timeout: float = 60):
        return wait_for(lambda: (self.finds(css) or [None])[0], what, timeout)

    def login(self, user: User):
        self.driver.delete_all_cookies()
        self.get("/dashboard/login")
        self.find("input[name=domain]").clear()
        self.find("input[name=domain]").send_keys("Default")
        self.find("input[name=username]").send_keys(user.name)
        self.find("input[name=password]").send_keys(user.password)
        self.find("#login-form button").click()
        self.wait_css("#logout", "the dashboard after login")

    def select(self, css: str, text: str | None = None, value: str | None = None):
        from selenium.webdriver.support.ui import Select

        sel = Select(self.find(css))
        if text is not None:
            sel.select_by_visible_text(text)
        else:
            sel.select_by_value(value)

    def accept_confirm(self):
        from selenium.common.exceptions import NoAlertPresentException

        def alert():
            try:
                return self.driver.switch_to.alert
            except NoAlertPresentException:
                return None
        wait_for(alert, "the confirmation dialog", 10).accept()


@pytest.fixture(scope="session")
def browser(dash_cloud, tmp_path_factory):
    reason = browser_missing()
    if reason:
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", "--window-size=1400,1000",
                "--disable-extensions", "--no-first-run"):
        options.add_argument(arg)
    profile = tmp_path_factory.mktemp("chromium-profile")
    options.add_argument(f"--user-data-dir={profile}")
    service = Service(CHROMEDRIVER, log_output=subprocess.DEVNULL)
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(60)
    screens = tmp_path_factory.mktemp("screens")
    try:
        yield Browser(driver, dash_cloud.url, screens)
    finally:
        driver.quit()

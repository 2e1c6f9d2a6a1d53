"""What the browser tests run against: a scratch copy of the course served by JupyterLab, and Chromium.

`make test-browser` installs what these need (Playwright for Python, Debian's chromium package)
and runs them; `make test` leaves them out. JupyterLab listens on 127.0.0.1 with a random token,
in a scratch copy of the course with its own Jupyter state, and is stopped, with its kernels, at
the end. Chromium is Debian's (no browser download), headless, with a fresh profile.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = ROOT / "out" / "browser"
# JupyterLab's pop-up asking whether to fetch news would cover the notebook in every screenshot, and
# its default windowing leaves cells out of the page until they are scrolled to.
PAGE_CONFIG = '{"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": true}}'
NOTEBOOK_SETTINGS = '{"windowingMode": "none"}'


def chromium_path() -> str:
    """Debian's Chromium, or $CHROMIUM."""
    found = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        raise pytest.UsageError("Chromium not found: install Debian's chromium package (make test-browser does, as root) "
                                "or set CHROMIUM to its path")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """A running JupyterLab: its base URL, token and course folder."""

    def __init__(self, url: str, token: str, course: Path) -> None:
        self.url, self.token, self.course = url, token, course

    def page_url(self, path: str) -> str:
        return f"{self.url}/{path}?token={self.token}"


def _shut_down_kernels(url: str, token: str) -> None:
    """Ask the server to stop every kernel (each runs in a session of its own, out of reach of a signal)."""
    try:
        with urllib.request.urlopen(f"{url}/api/kernels?token={token}", timeout=5) as answer:
            kernels = json.load(answer)
        for kernel in kernels:
            request = urllib.request.Request(f"{url}/api/kernels/{kernel['id']}?token={token}", method="DELETE")
            urllib.request.urlopen(request, timeout=10).close()
    except OSError:
        pass  # the server is gone already, and its kernels with it


@pytest.fixture(scope="session")
def course(tmp_path_factory) -> Path:
    """A scratch copy of the course (config, source, release) with a gradebook made by `release`."""
    from autograder.pipeline.release import chapters_in, release

    folder = tmp_path_factory.mktemp("browser") / "course"
    folder.mkdir()
    shutil.copy2(ROOT / "nbgrader_config.py", folder / "nbgrader_config.py")
    for part in ("source", "release"):
        shutil.copytree(ROOT / part, folder / part)
    release(folder, chapters_in(folder))  # also records the chapters in a gradebook, for the formgrader
    return folder


@pytest.fixture(scope="session")
def lab(course: Path) -> Iterator[Lab]:
    """JupyterLab on 127.0.0.1, serving `course`; stopped with every kernel it started."""
    state = course / ".jupyter"
    env = dict(os.environ, MPLBACKEND="Agg")
    for variable, sub in {"JUPYTER_CONFIG_DIR": "config", "JUPYTER_DATA_DIR": "data", "JUPYTER_RUNTIME_DIR": "runtime",
                          "IPYTHONDIR": "ipython", "MPLCONFIGDIR": "matplotlib"}.items():
        env[variable] = str(state / sub)
        (state / sub).mkdir(parents=True, exist_ok=True)
    (state / "config" / "labconfig").mkdir()
    (state / "config" / "labconfig" / "page_config.json").write_text(PAGE_CONFIG)
    settings = state / "config" / "lab" / "user-settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text(NOTEBOOK_SETTINGS)
    token, port = secrets.token_hex(16), _free_port()
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={course}",
               "--LabApp.expose_app_in_browser=True", "--ServerApp.port_retries=0"]
    if os.geteuid() == 0:
        command.append("--allow-root")
    log = (course / "jupyterlab.log").open("wb")
    server = subprocess.Popen(command, cwd=course, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"JupyterLab exited ({server.returncode}); see {course / 'jupyterlab.log'}")
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("JupyterLab did not answer within 90 s") from None
                time.sleep(0.5)
        yield Lab(url, token, course)
    finally:
        _shut_down_kernels(url, token)
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    """Headless Chromium with a fresh profile, driven by Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=chromium_path(), headless=True,
            args=CHROMIUM_FLAGS, viewport={"width": 1280, "height": 900})
        try:
            yield context
        finally:
            context.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS

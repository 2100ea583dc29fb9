"""The HTML report in a real browser: the system's headless Chromium (Debian package `chromium`),
driven over the Chrome DevTools protocol with websocket-client, so that no browser download is
needed. :func:`render` loads a page at a given window width and returns what a reader would meet:
console errors and uncaught exceptions, every image's natural size, each table's width against
the window's, and a screenshot."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import websocket

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)

PAGE_FACTS = """(() => ({
  width: window.innerWidth,
  pageWidth: document.documentElement.scrollWidth,
  images: [...document.images].map(i => ({alt: i.alt, complete: i.complete, width: i.naturalWidth})),
  tables: [...document.querySelectorAll('table')].map(t => ({
    id: t.id, width: t.scrollWidth, right: t.getBoundingClientRect().right})),
}))()"""
"""What the page shows, read in the page: the window and page widths, each image and each table."""


class _DevTools:
    """One page's DevTools websocket: commands by id, events kept as they arrive."""

    def __init__(self, url: str):
        self.ws = websocket.create_connection(url, timeout=60, suppress_origin=True)
        self.events: list[dict] = []
        self._id = 0

    def call(self, method: str, **params) -> dict:
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self._id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, event: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == event for e in self.events):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {event} within {timeout} s")
            self.events.append(json.loads(self.ws.recv()))


def _devtools_port(profile: Path, proc: subprocess.Popen, timeout: float = 30) -> int:
    """The port Chromium chose (--remote-debugging-port=0 writes it to DevToolsActivePort)."""
    deadline = time.monotonic() + timeout
    marker = profile / "DevToolsActivePort"
    while not marker.is_file() or not marker.read_text().strip():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"chromium did not start: {proc.stderr.read().decode(errors='replace')[-2000:]}")
        time.sleep(0.1)
    return int(marker.read_text().split()[0])


def render(page: Path, *, width: int = 1280, height: int = 900, screenshot: Path | None = None) -> dict:
    """Load ``page`` in headless Chromium at ``width`` x ``height`` pixels; return its facts
    (:data:`PAGE_FACTS`) with ``errors``, the console errors and uncaught exceptions, and write a
    PNG of the first screen to ``screenshot`` when given."""
    if CHROMIUM is None:
        raise RuntimeError("chromium is not installed (Debian: apt-get install chromium; make setup-browser)")
    with tempfile.TemporaryDirectory(prefix="cotrepro-chromium-") as profile:
        cmd = [
            CHROMIUM,
            "--headless=new",
            # Root in containers and CI has no user namespace for the sandbox; the page is our own file.
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            f"--user-data-dir={profile}",
            "--remote-debugging-port=0",
            f"--window-size={width},{height}",
            "about:blank",
        ]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            port = _devtools_port(Path(profile), proc)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as r:
                target = next(t for t in json.load(r) if t["type"] == "page")
            tools = _DevTools(target["webSocketDebuggerUrl"])
            try:
                for domain in ("Page", "Runtime", "Log"):
                    tools.call(f"{domain}.enable")
                tools.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                           mobile=False)  # fmt: skip
                tools.call("Page.navigate", url=Path(page).resolve().as_uri())
                tools.wait_for("Page.loadEventFired")
                facts = tools.call("Runtime.evaluate", expression=PAGE_FACTS, returnByValue=True)["result"]["value"]
                if screenshot is not None:
                    shot = tools.call("Page.captureScreenshot", format="png")
                    Path(screenshot).write_bytes(base64.b64decode(shot["data"]))
                errors = [_error_text(e) for e in tools.events if _is_error(e)]
            finally:
                tools.ws.close()
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return {**facts, "errors": errors}


def _is_error(event: dict) -> bool:
    method, params = event.get("method"), event.get("params", {})
    return (
        method == "Runtime.exceptionThrown"
        or (method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"))
        or (method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error")
    )


def _error_text(event: dict) -> str:
    params = event.get("params", {})
    if "exceptionDetails" in params:
        return params["exceptionDetails"].get("text", "exception")
    if "entry" in params:
        return params["entry"].get("text", "")
    return " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))


def report_problems(facts: dict, figures) -> list[str]:
    """What is wrong with a rendered report (:func:`render`'s facts): console errors, a figure
    missing or not decoded, the page or a table wider than the window. Empty when it is fine."""
    problems = [f"console: {e}" for e in facts["errors"]]
    shown = {i["alt"]: i for i in facts["images"]}
    problems += [f"figure {f} missing" for f in figures if f not in shown]
    problems += [f"figure {a} not decoded" for a, i in shown.items() if not (i["complete"] and i["width"] > 0)]
    if facts["pageWidth"] > facts["width"]:
        problems.append(f"page {facts['pageWidth']} px wide in a {facts['width']} px window")
    problems += [f"table {t['id']} ends at {t['right']:.0f} px" for t in facts["tables"] if t["right"] > facts["width"]]
    return problems

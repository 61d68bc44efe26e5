"""A minimal Chrome DevTools Protocol client over --remote-debugging-pipe (stdlib only).

    with Browser.start(find_chromium()) as b:
        page = b.new_page(1400, 1000)
        page.navigate("file:///.../report.html")
        page.eval("document.title")
        page.click_at(x, y)
        page.screenshot("shot.png")

Chromium reads commands from fd 3 and writes replies and events to fd 4, each message one JSON
object ended by a NUL byte: no websocket, no port, nothing listening on the network.
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--mute-audio", "--hide-scrollbars",
         "--remote-debugging-pipe"]


class CdpError(RuntimeError):
    pass


def find_chromium() -> str | None:
    for name in (os.environ.get("CKC_CHROMIUM", ""), "chromium", "chromium-browser",
                 "google-chrome"):
        path = shutil.which(name) if name else None
        if path:
            return path
    return None


def install_chromium() -> str:
    """apt-get installs Debian's chromium when root; returns "" or why it could not."""
    if os.environ.get("CKC_NO_INSTALL"):
        return "CKC_NO_INSTALL is set"
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return "not root or no apt-get: install Debian's chromium package"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, timeout=600)
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["?"]
        return f"apt-get install chromium failed: {tail[0]}"
    return ""


@dataclass
class Browser:
    proc: subprocess.Popen[bytes]
    to_browser: int
    from_browser: int
    profile: str
    next_id: int = 1
    buffer: bytes = b""
    events: list[dict[str, Any]] = field(default_factory=list)

    @staticmethod
    def start(chromium: str) -> "Browser":
        profile = tempfile.mkdtemp(prefix="ckc-chromium-")
        cmd_r, cmd_w = os.pipe()  # we write commands, chromium reads fd 3
        ev_r, ev_w = os.pipe()  # chromium writes fd 4, we read

        def child_fds() -> None:  # in the child: the pipe ends become fds 3 and 4
            import fcntl

            high_r = fcntl.fcntl(cmd_r, fcntl.F_DUPFD, 10)
            high_w = fcntl.fcntl(ev_w, fcntl.F_DUPFD, 10)
            os.dup2(high_r, 3)  # dup2 targets are inheritable; the rest close on exec
            os.dup2(high_w, 4)

        proc = subprocess.Popen([chromium, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, preexec_fn=child_fds,
                                close_fds=False)
        os.close(cmd_r)
        os.close(ev_w)
        return Browser(proc, cmd_w, ev_r, profile)

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=5)
        except (CdpError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self.to_browser, self.from_browser):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self.profile, ignore_errors=True)

    def _read_message(self, deadline: float) -> dict[str, Any]:
        import select

        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.from_browser], [], [], left)[0]:
                raise CdpError("timed out waiting for chromium")
            chunk = os.read(self.from_browser, 1 << 16)
            if not chunk:
                raise CdpError(f"chromium closed the pipe (exit {self.proc.poll()})")
            self.buffer += chunk
        raw, _, self.buffer = self.buffer.partition(b"\0")
        return json.loads(raw)

    def call(self, method: str, params: dict[str, Any] | None = None,
             session: str | None = None, timeout: float = 30) -> dict[str, Any]:
        msg: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self.next_id += 1
        os.write(self.to_browser, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == msg["id"]:
                if "error" in reply:
                    raise CdpError(f"{method}: {reply['error'].get('message')}")
                return reply.get("result", {})
            self.events.append(reply)

    def new_page(self, width: int, height: int) -> "Page":
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})
        page = Page(self, session["sessionId"])
        page.call("Page.enable")
        page.call("Emulation.setDeviceMetricsOverride", {"width": width, "height": height,
                                                        "deviceScaleFactor": 1, "mobile": False})
        return page


@dataclass
class Page:
    browser: Browser
    session: str

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.browser.call(method, params, self.session)

    def eval(self, expression: str) -> Any:
        res = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                             "awaitPromise": True})
        if "exceptionDetails" in res:
            raise CdpError(f"{expression[:60]}: {res['exceptionDetails'].get('text')}")
        return res["result"].get("value")

    def navigate(self, url: str, ready: str = "document.readyState === 'complete'",
                 timeout: float = 20) -> None:
        self.call("Page.navigate", {"url": url})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.eval(f"!!({ready})"):
                    return
            except CdpError:  # the document is still being replaced
                pass
            time.sleep(0.1)
        raise CdpError(f"{url}: not ready after {timeout} s ({ready})")

    def click_at(self, x: float, y: float) -> None:
        base = {"x": x, "y": y, "button": "left", "clickCount": 1}
        self.call("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y})
        self.call("Input.dispatchMouseEvent", dict(base, type="mousePressed"))
        self.call("Input.dispatchMouseEvent", dict(base, type="mouseReleased"))

    def screenshot(self, path: str, clip: dict[str, float] | None = None) -> None:
        params: dict[str, Any] = {"format": "png"}
        if clip:
            params["clip"] = dict(clip, scale=1)
            params["captureBeyondViewport"] = True
        data = self.call("Page.captureScreenshot", params)["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

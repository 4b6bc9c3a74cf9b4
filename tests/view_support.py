"""Shared by the view tests: a real `linctl view` server in a subprocess, and plain HTTP to it."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from safetensors.torch import load_file


class Served:
    """`linctl view --json` running in a subprocess; its stderr goes to a file the test can read any time."""

    def __init__(self, state: Path, *extra: str, cwd: Path | None = None) -> None:
        self.log = state.parent / f"view-{time.monotonic_ns()}.stderr"
        env = {**os.environ, "NO_COLOR": "1", "LINCTL_DEBUG": ""}
        argv = [sys.executable, "-m", "linctl", "view", "--json", "--state", str(state), *extra]
        with open(self.log, "w") as err:
            self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, text=True, env=env, cwd=cwd)
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        assert line, f"linctl view printed no URL: {self.stderr()}"
        self.info = json.loads(line)
        self.url = self.info["url"]
        parts = urlsplit(self.url)
        self.host, self.port = parts.hostname, parts.port
        self.token = parts.query.removeprefix("token=")

    def stderr(self) -> str:
        return self.log.read_text()

    def request(self, method: str, path: str, headers: dict | None = None, body: str | None = None):
        """One HTTP request with exactly these headers (Host included when given): (status, body text)."""
        connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            connection.putrequest(method, path, skip_host="Host" in (headers or {}))
            for key, value in (headers or {}).items():
                connection.putheader(key, value)
            data = body.encode() if body is not None else None
            if data is not None:
                connection.putheader("Content-Length", str(len(data)))
            connection.endheaders(data)
            response = connection.getresponse()
            return response.status, response.read().decode()
        finally:
            connection.close()

    def state(self) -> dict:
        status, text = self.request("GET", f"/api/state?token={self.token}")
        assert status == 200, text
        return json.loads(text)

    def stop(self) -> str:
        """Ctrl-C, as a user stops it."""
        self.proc.send_signal(signal.SIGINT)
        self.proc.communicate(timeout=20)
        return self.stderr()


def wait_for(check, timeout: float = 10.0, every: float = 0.02):
    """check()'s first truthy value within `timeout` seconds, else its last value."""
    end = time.monotonic() + timeout
    value = check()
    while not value and time.monotonic() < end:
        time.sleep(every)
        value = check()
    return value


def tensors(path: Path) -> dict:
    """The state file's tensors as safetensors reads them (torch tensors, exactly as stored)."""
    return load_file(str(path))

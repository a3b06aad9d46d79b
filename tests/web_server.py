"""`digest serve` in a real process on 127.0.0.1, and a small HTTP client for it."""

from __future__ import annotations

import http.client
import os
import re
import subprocess
import sys
from pathlib import Path

SECRET = "test-secret-0123456789-abcdefghij"


class Served:
    """`digest serve --port 0` in `root`, its log in a file (a pipe nobody reads would fill up)."""

    def __init__(self, root: Path, env: dict | None = None, threads: int = 8) -> None:
        self.log_path = root / f"serve-{os.getpid()}-{id(self)}.log"
        self.log = self.log_path.open("w")
        environment = {**os.environ, "PYTHONWARNINGS": "ignore", "DIGEST_SECRET": SECRET,
                       **(env or {})}
        for name, value in list(environment.items()):
            if value is None:
                del environment[name]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "digest", "serve", "--port", "0", "--threads", str(threads)],
            cwd=root, env=environment, stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.process.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        if not found:
            self.stop()
            raise AssertionError(
                f"digest serve did not start: {line!r} {self.log_path.read_text()}")
        self.port = int(found.group(1))

    def request(self, method: str, path: str, body: bytes = b"", headers: dict | None = None,
                host: str | None = None) -> tuple[int, str]:
        status, _, text = self.exchange(method, path, body, headers, host)
        return status, text

    def exchange(self, method: str, path: str, body: bytes = b"", headers: dict | None = None,
                 host: str | None = None) -> tuple[int, dict[str, str], str]:
        """(status, response headers, body) of one request."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            sent = {"Host": f"127.0.0.1:{self.port}" if host is None else host, **(headers or {})}
            connection.request(method, path, body=body or None, headers=sent)
            response = connection.getresponse()
            return (response.status, dict(response.getheaders()),
                    response.read().decode("utf-8", "replace"))
        finally:
            connection.close()

    def one_click(self, path: str, **options) -> tuple[int, str]:
        """The RFC 8058 request a mail client sends for List-Unsubscribe-Post."""
        return self.request("POST", path, b"List-Unsubscribe=One-Click",
                            {"Content-Type": "application/x-www-form-urlencoded"}, **options)

    def stop(self) -> str:
        """Stop the server; its log."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process.stdout.close()
        self.log.close()
        return self.log_path.read_text()

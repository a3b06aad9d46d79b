"""A SendGrid-compatible HTTP server on 127.0.0.1 for tests and benchmarks.

It checks the bearer token, validates every mail-send body against SendGrid's JSON schema
(tests/data/sendgrid_mail_send.schema.json), records what it accepted, and can be scripted to
answer 429, 5xx or 400, or to hang.

It also serves the v3 suppression lists as SendGrid does: global unsubscribes, bounces, blocks,
spam reports and invalid emails (newest first, `start_time`/`end_time` on `created`, pages of
`limit` ≤ 500 from `offset`), and an unsubscribe group's addresses (a plain list, whole).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from feed_server import QuietServer

API_KEY = "SG.secret-key-that-must-never-show"  # the key the tests' `sendgrid` server takes

SCHEMA = json.loads((Path(__file__).parent / "data" / "sendgrid_mail_send.schema.json").read_text())


class FakeSendGrid:
    def __init__(self, api_key: str = "SG.test-key-do-not-print", delay: float = 0.0,
                 validate: bool = True) -> None:
        from jsonschema import Draft202012Validator

        self.api_key = api_key
        self.delay = delay
        self.validator = Draft202012Validator(SCHEMA) if validate else None
        self.accepted: list[dict] = []  # mail-send bodies answered 202
        self.requests = 0  # every mail-send request, whatever the answer
        self.connections: list[int] = []  # the TCP connection of each mail-send request, by number
        self.opened = 0  # TCP connections accepted
        self.in_flight = 0
        self.rejected: list[str] = []
        self.scripted: list[tuple[int, dict, dict]] = []  # (status, headers, body) answered first
        self.hang_seconds = 0.0
        self.batches: list[str] = []
        self.batch_answer: bytes | None = None  # answers the batch id request instead, when set
        self.cancelled: list[dict] = []
        # /v3/suppression/<list>: entries such as {"email": ..., "created": 1700000000, ...}
        self.suppressions: dict[str, list[dict]] = {
            name: [] for name in ("unsubscribes", "bounces", "blocks", "spam_reports",
                                  "invalid_emails")}
        self.group_suppressions: dict[int, list[str]] = {}
        self.gets: list[tuple[str, dict]] = []  # (path, query) of every GET answered
        self.scripted_gets: list[tuple[int, dict, dict]] = []  # answered to the next GETs
        self.lock = threading.Lock()
        self.server = QuietServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FakeSendGrid:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, status: int, headers: dict | None = None, body: dict | None = None) -> None:
        """The next mail-send request gets this answer instead of 202."""
        self.scripted.append((status, headers or {}, body or {}))

    def answer_get(self, status: int, headers: dict | None = None,
                   body: dict | None = None) -> None:
        """The next GET gets this answer instead of its list."""
        self.scripted_gets.append((status, headers or {}, body or {}))

    def recipients(self) -> list[str]:
        """Every address that was accepted, once per copy received."""
        return [to["email"] for body in self.accepted for p in body["personalizations"]
                for to in p["to"]]

    def _handler(self):
        return type("Handler", (_Handler,), {"fake": self})


class _Handler(BaseHTTPRequestHandler):
    """The API's answers: suppression lists (GET), batches, scheduled sends and mail sends
    (POST), as the FakeSendGrid of `fake` scripts them."""

    protocol_version = "HTTP/1.1"
    fake: FakeSendGrid

    def setup(self):
        super().setup()
        with self.fake.lock:
            self.fake.opened += 1
            self.number = self.fake.opened

    def log_message(self, *args):  # quiet
        pass

    def _reply(self, status: int, body: dict | list | None = None, headers: dict | None = None):
        data = json.dumps(body).encode() if body is not None else b""
        try:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, str(value))
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the client went away

    def do_GET(self):
        fake = self.fake
        if self.headers.get("Authorization") != f"Bearer {fake.api_key}":
            return self._reply(
                401, {"errors": [{"message": "authorization required", "field": None}]})
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        with fake.lock:
            scripted = fake.scripted_gets.pop(0) if fake.scripted_gets else None
            fake.gets.append((url.path, query))
        if scripted:
            status, headers, body = scripted
            return self._reply(status, body, headers)
        parts = url.path.strip("/").split("/")
        if parts[:3] == ["v3", "asm", "groups"] and parts[4:] == ["suppressions"]:
            return self._reply(200, fake.group_suppressions.get(int(parts[3]), []))
        if (parts[:2] != ["v3", "suppression"] or len(parts) != 3
                or parts[2] not in fake.suppressions):
            return self._reply(404, {"errors": [{"message": "not found"}]})
        return self._suppression_list(fake.suppressions[parts[2]], query)

    def _suppression_list(self, entries: list[dict], query: dict):
        try:
            limit = int(query.get("limit", 500))
            offset = int(query.get("offset", 0))
            start = int(query.get("start_time", 0))
            end = int(query.get("end_time", 2**62))
        except ValueError:
            return self._reply(
                400, {"errors": [{"field": "query", "message": "not an integer"}]})
        if not 1 <= limit <= 500:
            return self._reply(400, {"errors": [
                {"field": "limit", "message": "limit must be between 1 and 500"}]})
        listed = [e for e in entries if start <= e.get("created", 0) <= end]
        listed.sort(key=lambda e: -e.get("created", 0))
        return self._reply(200, listed[offset:offset + limit])

    def do_POST(self):
        fake = self.fake
        length = int(self.headers.get("Content-Length", 0))
        raw = self.rfile.read(length)
        if self.headers.get("Authorization") != f"Bearer {fake.api_key}":
            return self._reply(401, {"errors": [{
                "message": "The provided authorization grant is invalid, expired, "
                           "or revoked",
                "field": None, "help": None}]})
        if self.path == "/v3/mail/batch":
            return self._batch()
        if self.path == "/v3/user/scheduled_sends":
            return self._scheduled(raw)
        if self.path != "/v3/mail/send":
            return self._reply(404, {"errors": [{"message": "not found"}]})
        return self._mail_send(raw)

    def _batch(self):
        fake = self.fake
        if fake.batch_answer is not None:
            self.send_response(201)
            self.send_header("Content-Length", str(len(fake.batch_answer)))
            self.end_headers()
            self.wfile.write(fake.batch_answer)
            return None
        batch_id = uuid.uuid4().hex
        fake.batches.append(batch_id)
        return self._reply(201, {"batch_id": batch_id})

    def _scheduled(self, raw: bytes):
        fake = self.fake
        body = json.loads(raw)
        if (body.get("batch_id") not in fake.batches
                or body.get("status") not in ("pause", "cancel")):
            return self._reply(400, {"errors": [
                {"message": "invalid batch id or status", "field": "batch_id"}]})
        fake.cancelled.append(body)
        return self._reply(201, body)

    def _mail_send(self, raw: bytes):
        fake = self.fake
        with fake.lock:
            fake.requests += 1
            fake.connections.append(self.number)
            scripted = fake.scripted.pop(0) if fake.scripted else None
        if scripted:
            status, headers, body = scripted
            return self._reply(status, body, headers)
        if fake.hang_seconds:
            time.sleep(fake.hang_seconds)  # a scripted hang, not synchronisation
            return self._reply(503, {"errors": [{"message": "hung"}]})
        try:
            body = json.loads(raw)
        except ValueError:
            return self._reply(400, {"errors": [{"message": "Bad Request", "field": None}]})
        if fake.validator is not None:
            errors = sorted(fake.validator.iter_errors(body), key=lambda e: list(e.path))
            if errors:
                first = errors[0]
                field = ".".join(str(p) for p in first.path) or None
                fake.rejected.append(f"{field}: {first.message}")
                return self._reply(400, {"errors": [
                    {"message": first.message, "field": field, "help": None}]})
        with fake.lock:
            fake.in_flight += 1
        try:
            if fake.delay:
                time.sleep(fake.delay)  # the scripted answer time: the request is held
            with fake.lock:
                fake.accepted.append(body)
        finally:
            with fake.lock:
                fake.in_flight -= 1
        return self._reply(202, None, {"X-Message-Id": uuid.uuid4().hex[:22]})

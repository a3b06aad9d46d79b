"""`digest serve` and `digest.web:app`: the small WSGI application readers and providers reach
(`digest.web.app`), on waitress or behind any WSGI server.

Behind another WSGI server: `DIGEST_CONFIG` names the digest.toml (default: ./digest.toml).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from digest.errors import DigestError
from digest.newsletter import Newsletter
from digest.urls import is_loopback
from digest.web.app import EVENTS_LIMIT, WebApp

__all__ = ["WebApp", "app", "create_app", "serve"]


class _Lazy:
    """`digest.web:app` for WSGI servers: the newsletter is opened on the first request."""

    def __init__(self) -> None:
        self._app: WebApp | None = None
        self._lock = threading.Lock()

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if self._app is None:
            with self._lock:
                if self._app is None:
                    self._app = create_app()
                    self._app.start()
        return self._app(environ, start_response)


def create_app(config_path: Path | None = None) -> WebApp:
    path = config_path or (Path(os.environ["DIGEST_CONFIG"]) if os.environ.get("DIGEST_CONFIG")
                           else None)
    return WebApp(Newsletter.open(path))


app = _Lazy()


def serve(config_path: Path | None, host: str, port: int, threads: int,
          say: Callable[[str], None], warn: Callable[[str], None]) -> None:
    """Run the application on waitress until Ctrl-C or SIGTERM."""
    import signal

    from waitress import create_server

    application = create_app(config_path)
    if not is_loopback(host):
        warn(f"--host {host} is not a loopback address: put digest serve behind a reverse proxy "
             "that speaks HTTPS")
    if application.signer is None:
        warn("DIGEST_SECRET is not set: /unsubscribe refuses every link")
    if application.signer is None and application.config.signup.enabled:
        warn("DIGEST_SECRET is not set: /subscribe is off (its confirmation links are signed)")
    if application.verifier is None:
        warn("delivery.sendgrid.webhook_public_key is not set: /sendgrid/events refuses every "
             "batch")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("waitress").setLevel(logging.WARNING)
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # a line per request queued
    try:
        server = create_server(application, host=host, port=port, threads=threads,
                               # a little over ours, so that the application answers 413
                               ident="digest", max_request_body_size=EVENTS_LIMIT + 2**20,
                               expose_tracebacks=False,
                               # a reverse proxy on this machine says who the client is
                               trusted_proxy=host if is_loopback(host) and host != "localhost"
                               else "127.0.0.1",
                               trusted_proxy_count=1,
                               trusted_proxy_headers={"x-forwarded-for"},
                               log_untrusted_proxy_headers=False)
    except OSError as error:
        application.newsletter.close()
        raise DigestError(f"cannot listen on {host}:{port} ({error.strerror}); pass --port with a "
                          "free one") from None

    def stop(signum, frame) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    application.start()
    shown = f"[{host}]" if ":" in host else host
    say(f"serving {application.name} on http://{shown}:{getattr(server, 'effective_port', port)}/"
        " (Ctrl-C to stop)")
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        application.stop()
        application.newsletter.close()
        say("stopped")

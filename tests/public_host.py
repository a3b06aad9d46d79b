"""A feed host with a public address, for the SSRF tests.

Run inside a network namespace of its own (`unshare --net`), where PUBLIC is put on the loopback
interface: digest sees a feed host on the internet, while everything stays inside this process's
own network, so no real host is impersonated. The feed's entries lead (directly, or through a 302
from the feed's own host) to an "internal service" on 127.0.0.1 whose page holds SECRET. Each
scenario builds one newsletter with `full_text = true`; the report, printed as JSON, says what
was published and which requests each server received.

    unshare --net python tests/public_host.py WORKDIR [allow_private]
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import MINIMAL_TOML, run_digest
from feed_server import FeedServer, rss

PUBLIC = "93.184.215.14"
SECRET = "SECRET-INTERNE-7f3a"
SECRET_PAGE = ("<!doctype html><html><head><title>Intranet</title></head><body><article>"
               "<h1>Tableau de bord interne</h1>"
               + f"<p>Ce paragraphe du service interne ne doit jamais sortir : {SECRET}. " * 30
               + "</p></article></body></html>").encode()


def main(workdir: Path, allow_private: bool) -> dict:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["ip", "addr", "add", f"{PUBLIC}/32", "dev", "lo"], check=True)
    public, internal = FeedServer(PUBLIC), FeedServer("127.0.0.1")
    internal.add("/internal", body=SECRET_PAGE, content_type="text/html; charset=utf-8")
    public.add("/article", redirect=f"{internal.url}/internal")
    feeds = {
        "direct": public.add("/direct.xml", body=rss([entry(f"{internal.url}/internal")])),
        "redirect": public.add("/redirect.xml", body=rss([entry(f"{public.url}/article")])),
    }
    report = {}
    for name, url in feeds.items():
        root = workdir / name
        (root / "articles").mkdir(parents=True)
        private = "allow_private = true\n" if allow_private else ""
        (root / "digest.toml").write_text(
            MINIMAL_TOML.replace("[sources]\n", f"[sources]\n{private}")
            + f'\n[[sources.feeds]]\nurl = "{url}"\nfull_text = true\n', encoding="utf-8")
        before = internal.requests
        result = run_digest("build", "--date", "2025-04-22", cwd=root)
        published = "".join(path.read_text(encoding="utf-8") for path in (root / "out").rglob("*")
                            if path.is_file()) if (root / "out").is_dir() else ""
        report[name] = {
            "code": result.returncode,
            "stderr": result.stderr,
            "built": "Le Fil" in published,
            "leaked": SECRET in published,
            "internal_requests": internal.requests - before,
            "public_article_requests": len(public.routes["/article"].hits),
        }
    return report


def entry(link: str) -> dict:
    return {"title": "Une dépêche courte", "link": link, "date": "Tue, 22 Apr 2025 07:30:00 +0200",
            "description": "<p>Le résumé de la dépêche, trop court pour être l'article.</p>"}


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]), sys.argv[2:] == ["allow_private"])))

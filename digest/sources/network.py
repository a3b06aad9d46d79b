"""The one HTTP client every fetch goes through: feeds and the pages of `full_text`.

A feed is written by someone else, and so are the links in it: without care, an entry's link (or
a redirect) to http://127.0.0.1:…/ or a cloud's metadata address would make digest read the
newsroom's internal services and publish what they say. So:

- every connection resolves its host name itself, refuses loopback, private, link-local,
  multicast and reserved addresses (IPv4, IPv6 and IPv4 inside IPv6) unless
  `sources.allow_private` is on, and connects to the very address it checked (a second DNS
  answer cannot slip another one in); each redirect opens its own connection, checked again;
- a request has a total deadline, not only one per read (a server sending a byte a second
  never ends otherwise);
- the cap is on the bytes read and decompressed, never on what the server declares.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import httpcore
import httpx

from digest import __version__
from digest.config import Config

USER_AGENT = f"digest/{__version__} (daily newsletter builder; feed reader)"
MAX_REDIRECTS = 5
ACCEPT = ("application/feed+json, application/atom+xml, application/rss+xml, application/rdf+xml,"
          " application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5")
# NAT64 (RFC 6052): an IPv4 address inside an IPv6 one, like ::ffff:a.b.c.d
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class FetchError(Exception):
    """Why an address could not be read, in one line."""


class AddressRefused(FetchError):
    """The host name leads to an address digest does not fetch from."""


def refusal(address: str) -> str:
    """Why digest does not connect to the IP `address`, or "" when it is a public address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # without an IPv6 zone ("%eth0")
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.ipv4_mapped or ip.sixtofour
        if inner is None and ip in _NAT64:
            inner = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if inner is not None:
            return refusal(str(inner))
    kinds = (("a loopback address", ip.is_loopback), ("a link-local address", ip.is_link_local),
             ("a multicast address", ip.is_multicast), ("an unspecified address",
                                                        ip.is_unspecified),
             ("a private address", ip.is_private), ("a reserved address", ip.is_reserved),
             # fec0::/10, deprecated (RFC 3879) yet still routed inside some networks
             ("a site-local address", isinstance(ip, ipaddress.IPv6Address)
              and ip.is_site_local),
             ("not a public address", not ip.is_global))
    return next((kind for kind, found in kinds if found), "")


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to addresses that pass `refusal`."""

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private
        self.backend = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None,
                          ) -> httpcore.AsyncNetworkStream:
        addresses = await self._addresses(host, port)
        last: Exception | None = None
        for address in addresses:  # in the resolver's order, as a browser tries them
            try:
                return await self.backend.connect_tcp(address, port, timeout, local_address,
                                                      socket_options)
            except httpcore.ConnectError as error:
                last = error
        assert last is not None  # _addresses never returns an empty list
        raise last

    async def _addresses(self, host: str, port: int) -> list[str]:
        loop = asyncio.get_running_loop()
        try:
            found = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as error:
            raise httpcore.ConnectError(f"cannot resolve {host} ({error})") from None
        addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
        if self.allow_private:
            return addresses
        allowed = [address for address in addresses if not refusal(address)]
        if not allowed:
            where = f"{host} is" if host == addresses[0] else f"{host} is {addresses[0]},"
            raise AddressRefused(
                f"refused: {where} {refusal(addresses[0])}; digest reads only public addresses "
                "unless sources.allow_private = true")
        return allowed

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[Any] | None = None,
                                  ) -> httpcore.AsyncNetworkStream:
        raise AddressRefused("refused: a Unix socket")

    async def sleep(self, seconds: float) -> None:
        await self.backend.sleep(seconds)


@lru_cache(maxsize=1)
def _tls() -> ssl.SSLContext:
    """One TLS context per process: loading the system's certificates takes ~40 ms a time."""
    return httpx.create_ssl_context(trust_env=False)


class _GuardedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, allow_private: bool, max_connections: int) -> None:
        super().__init__(verify=_tls(), trust_env=False)
        # httpx builds its pool without a way to pass a network backend: the same pool, with ours
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=_tls(),
            max_connections=max_connections,
            network_backend=_GuardedBackend(allow_private),
        )


def http_client(config: Config) -> httpx.AsyncClient:
    """The client for feeds and pages: guarded connections, timeouts, redirects, who we are.
    No proxy from the environment: a proxy would resolve the names, out of the guard's sight."""
    sources = config.sources
    return httpx.AsyncClient(
        transport=_GuardedTransport(sources.allow_private, sources.concurrency),
        timeout=httpx.Timeout(sources.timeout),
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
        headers={"User-Agent": USER_AGENT, "Accept": ACCEPT, "Accept-Encoding": "gzip"},
        trust_env=False,
    )


@dataclass
class Page:
    """What a GET gave: a body, or None for 304 Not Modified."""

    body: bytes | None
    content_type: str = ""
    etag: str | None = None
    last_modified: str | None = None


async def get(client: httpx.AsyncClient, url: str, limit: int, deadline: float,
              headers: dict[str, str] | None = None, setting: str = "sources.max_bytes") -> Page:
    """GET `url`: at most `limit` bytes once decompressed, all within `deadline` seconds, redirects
    included. Raises FetchError."""
    try:
        async with asyncio.timeout(deadline):
            async with client.stream("GET", url, headers=headers) as response:
                if response.status_code == 304:
                    return Page(None)
                if response.status_code >= 400:
                    raise FetchError(f"HTTP {response.status_code} {response.reason_phrase}")
                body = await _read(response, limit, setting)
                return Page(body, response.headers.get("Content-Type", ""),
                            response.headers.get("ETag"), response.headers.get("Last-Modified"))
    except TimeoutError:
        raise FetchError(f"no complete answer within {deadline:g} s") from None
    except httpx.TooManyRedirects:
        raise FetchError(f"more than {MAX_REDIRECTS} redirects") from None
    except httpx.TimeoutException:
        raise FetchError("timed out") from None
    except httpx.HTTPError as exc:
        raise FetchError(f"{exc.__class__.__name__}: {exc}".rstrip(": ")) from None
    except (httpx.InvalidURL, ValueError) as exc:  # not an HTTPError: an address httpx refuses
        raise FetchError(f"invalid address: {exc}") from None


async def _read(response: httpx.Response, limit: int, setting: str) -> bytes:
    """The body, decompressed here rather than by httpx so that a small gzip bomb stops at the
    cap instead of growing a thousandfold in one chunk."""
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip", "x-gzip"):
        raise FetchError(f"unsupported Content-Encoding {encoding!r}")
    inflate = zlib.decompressobj(zlib.MAX_WBITS | 32) if encoding != "identity" else None
    chunks: list[bytes] = []
    size = 0
    too_large = FetchError(f"too large: over the {limit:,} byte limit ({setting})")
    async for raw in response.aiter_raw():
        pending = raw
        while pending:
            if inflate is None:
                chunk, pending = pending, b""
            else:
                try:
                    chunk = inflate.decompress(pending, limit + 1 - size)
                except zlib.error as error:
                    raise FetchError(f"broken gzip data ({error})") from None
                pending = inflate.unconsumed_tail
            size += len(chunk)
            if size > limit:
                raise too_large
            chunks.append(chunk)
    return b"".join(chunks)


async def fetch_page(url: str, config: Config) -> Page:
    """One web page with the feeds' limits; raises FetchError."""
    async with http_client(config) as client:
        return await get(client, url, config.sources.max_bytes, config.sources.timeout * 3)

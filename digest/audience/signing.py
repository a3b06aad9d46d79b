"""Signed links: `{unsubscribe_token}` in `delivery.unsubscribe_url` (and in each reader's
preferences link), and the sign-ups' confirmation links.

A token is the HMAC-SHA256 of the newsletter and the reader's address key under `DIGEST_SECRET`
(from the environment only), base64url-encoded and cut to 16 characters (96 bits): nobody can make
one for another address without the secret, a token of another newsletter does not fit this one,
and the link carries no address (which spam filters score: GB_CUSTOM_HTM_URI). Short, so that the
List-Unsubscribe header keeps within 78 columns; the state database keeps whose address each
token handed out stands for (`state.tokens`). Links signed with `DIGEST_SECRET_PREVIOUS` keep
working while a new secret is rolled out.

Earlier releases put the address in the token (base64url of the key, a dot, the whole HMAC):
those links, still in readers' mailboxes, are verified without the database.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import re
from collections.abc import Callable, Mapping

from digest.errors import ConfigError
from digest.urls import served_url

SECRET_VARIABLE = "DIGEST_SECRET"
PREVIOUS_VARIABLE = "DIGEST_SECRET_PREVIOUS"
MIN_SECRET_CHARS = 16
TOKEN = "{unsubscribe_token}"
PREFERENCES_PLACEHOLDER = "%preferences_url%"  # where templates put each reader's own page
TOKEN_CHARS = 16
MAX_TOKEN_CHARS = 600  # an earlier release's token: a 254-byte address and its signature
_TOKEN = re.compile(rf"[A-Za-z0-9_-]{{{TOKEN_CHARS}}}")
_ADDRESS_TOKEN = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}")
_CONTEXT = b"digest unsubscribe\0"  # these MACs mean nothing anywhere else
_CONFIRM_CONTEXT = b"digest confirm\0"
_CLIENT_CONTEXT = b"digest client\0"
_LOG_CONTEXT = b"digest log\0"
_CLICK_CONTEXT = b"digest click\0"
CLICK_MAC_CHARS = 11  # 66 bits
_CONFIRMATION = re.compile(r"([A-Za-z0-9_-]{16})\.([0-9]{1,12})\.[A-Za-z0-9_-]{22}")
CONFIRM_DAYS = 7  # how long a confirmation link works
SECRET_ADVICE = (f"export {SECRET_VARIABLE}=\"$(python3 -c 'import secrets; "
                 "print(secrets.token_urlsafe(32))')\" in the environment of cron and of "
                 "digest serve (never in a file of the repository)")


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """Makes and checks the unsubscribe tokens of one newsletter."""

    def __init__(self, newsletter: str, secrets: list[str]) -> None:
        if not secrets:
            raise ValueError("at least one secret")
        self.newsletter = newsletter.encode("utf-8")
        self._keys = [s.encode("utf-8") for s in secrets]  # the first one signs
        self._made: dict[str, str] = {}  # a reader's token is asked for his body and headers

    @classmethod
    def from_environment(cls, newsletter: str,
                         environ: Mapping[str, str] | None = None) -> Signer:
        """The signer of `DIGEST_SECRET` (and `DIGEST_SECRET_PREVIOUS`); a ConfigError naming
        the variable when it is missing or too short."""
        environ = os.environ if environ is None else environ
        secrets = []
        for variable in (SECRET_VARIABLE, PREVIOUS_VARIABLE):
            value = environ.get(variable, "").strip()
            if not value and variable == SECRET_VARIABLE:
                raise ConfigError(f"{SECRET_VARIABLE} is not set: unsubscribe links "
                                  f"({TOKEN}) are signed with it; {SECRET_ADVICE}")
            if value and len(value) < MIN_SECRET_CHARS:
                raise ConfigError(f"{variable} is {len(value)} characters long, too short to "
                                  f"sign links; use at least 32 random ones: {SECRET_ADVICE}")
            if value:
                secrets.append(value)
        return cls(newsletter, secrets)

    @classmethod
    def for_link(cls, url: str, newsletter: str) -> Signer | None:
        """The signer an unsubscribe link needs: None when it has no {unsubscribe_token}."""
        return cls.from_environment(newsletter) if TOKEN in url else None

    def _mac(self, key: bytes, address_key: bytes) -> bytes:
        # hmac.digest: the same MAC as hmac.new(...).digest(), in one call to OpenSSL
        return hmac.digest(key, _CONTEXT + self.newsletter + b"\0" + address_key, "sha256")

    def token(self, address_key: str) -> str:
        """The token of a reader's address key (`Recipient.key`)."""
        made = self._made.get(address_key)
        if made is None:
            made = self._made[address_key] = self._short(self._keys[0], address_key)
        return made

    def _short(self, key: bytes, address_key: str) -> str:
        return _encode(self._mac(key, address_key.encode("utf-8")))[:TOKEN_CHARS]

    def verify(self, token: str, handed_out: Callable[[str], str | None]) -> str | None:
        """The address key a token was made for, or None when no secret of ours made it for
        this newsletter. `handed_out` finds whose address a short token was given to. The whole
        token is compared in constant time with the one each secret gives, so a character
        changed anywhere (even in base64's unused bits) fails."""
        if _TOKEN.fullmatch(token):
            found = handed_out(token) or ""
            return found if found and self._matches(
                token, lambda key: self._short(key, found)) else None
        if len(token) > MAX_TOKEN_CHARS or not _ADDRESS_TOKEN.fullmatch(token):
            return None
        try:
            data = _decode(token.partition(".")[0])
            address_key = data.decode("utf-8")
        except (binascii.Error, ValueError):
            return None
        payload = _encode(data)
        matched = self._matches(token, lambda key: f"{payload}.{_encode(self._mac(key, data))}")
        return address_key if matched and address_key else None

    def confirmation_token(self, nonce: str, now: float) -> str:
        """The token of a sign-up's confirmation link: the sign-up's nonce (never the address),
        when the link stops working, and their signature."""
        expires = int(now) + CONFIRM_DAYS * 86400
        return f"{nonce}.{expires}.{self._confirm_mac(self._keys[0], nonce, expires)}"

    def confirmed_nonce(self, token: str, now: float) -> str | None:
        """The nonce a confirmation token names, or None when it is not ours, was altered or
        has expired."""
        match = _CONFIRMATION.fullmatch(token) if len(token) < 64 else None
        if match is None:
            return None
        nonce, expires = match.group(1), int(match.group(2))
        signed = self._matches(token, lambda key: f"{nonce}.{expires}."
                               f"{self._confirm_mac(key, nonce, expires)}")
        return nonce if signed and now <= expires else None

    def _confirm_mac(self, key: bytes, nonce: str, expires: int) -> str:
        message = _CONFIRM_CONTEXT + self.newsletter + f"\0{nonce}.{expires}".encode("ascii")
        return _encode(hmac.digest(key, message, "sha256"))[:22]

    def click_mac(self, day: str, story: str) -> str:
        """The signature of a story's click link: the day's edition and the story, no reader."""
        return self._click_mac(self._keys[0], day, story)

    def _click_mac(self, key: bytes, day: str, story: str) -> str:
        message = _CLICK_CONTEXT + self.newsletter + f"\0{day}/{story}".encode()
        return _encode(hmac.digest(key, message, "sha256"))[:CLICK_MAC_CHARS]

    def click_signed(self, day: str, story: str, mac: str) -> bool:
        """Whether a click link's signature is one of ours (constant time, every secret)."""
        return len(mac) == CLICK_MAC_CHARS and mac.isascii() and self._matches(
            mac, lambda key: self._click_mac(key, day, story))

    def reference(self, address_key: str) -> str:
        """A short, stable name for a reader in logs, which are never to hold addresses: keyed,
        so that whoever reads the logs cannot test a guessed address against it."""
        return hmac.digest(self._keys[0], _LOG_CONTEXT + address_key.encode("utf-8"),
                           "sha256").hex()[:12]

    def client_hash(self, client: str) -> str:
        """A keyed hash of a client's IP address: the consent record says where a sign-up came
        from without holding the address."""
        return hmac.digest(self._keys[0], _CLIENT_CONTEXT + client.encode("utf-8"),
                           "sha256").hex()[:16]

    def _matches(self, token: str, expected: Callable[[bytes], str]) -> bool:
        matched = False
        for key in self._keys:  # every secret tried: the time says nothing of which one
            matched |= hmac.compare_digest(expected(key).encode("ascii"), token.encode("ascii"))
        return matched


def preferences_link(signup_url: str, unsubscribe_url: str, wanted: bool) -> str:
    """Each reader's preferences page with {unsubscribe_token} to fill in, when his unsubscribe
    link is one `digest serve` answers; else ""."""
    if not wanted or TOKEN not in unsubscribe_url:
        return ""
    return f"{served_url(signup_url, unsubscribe_url, 'preferences')}?t={TOKEN}"

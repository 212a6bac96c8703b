"""Encryption at rest of sensitive text (phone numbers, call feedback, objections): envelope
encryption with keys the deployment provides, never the database.

Values are sealed under random data keys (AES-256-GCM, a fresh 96-bit nonce for each value), a
new data key every `DATA_KEY_USES` values; the data key is wrapped by the deployment's
key-encryption key (AES-256-GCM too, `DATA_ENCRYPTION_KEY` = `<key id>:<32 bytes base64>`), and
the stored text is

    enc1:<key id>:<base64url(wrap nonce | wrapped data key | nonce | ciphertext)>

so a column keeps its type (text) and a raw dump shows none of the value. The key id stored
with each value names the key that wrapped it: to rotate, make the new key current and move
the old one to `DATA_ENCRYPTION_PREVIOUS_KEYS` (comma-separated); every value stays readable at
once, and `rewrap` re-wraps a value's data key under the current key without touching its
ciphertext (a background job does it lazily: followup's `reseal` job). Text without the
prefix is a value from before encryption and is read as it is (and sealed by that job).

Exact search (a phone number) uses a keyed hash (`search_hash`: HMAC-SHA256 under
`DATA_HASH_KEY`), which the database can index and compare without knowing the number.

The module holds one process-wide `FieldCipher`, which `ServiceRuntime` configures from the
settings at start (`configure`); code that runs without a runtime (unit tests) gets the
development key. Production refuses to start with the development keys (secrets.py: every
setting named `*_key` with a public default)."""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "enc1:"
NONCE = 12
WRAPPED = 32 + 16  # a 256-bit data key and its tag
# Values sealed under one data key before the next is drawn. Each value still carries its
# wrapped data key, so it opens, re-wraps and rotates on its own as before. A data key of its
# own for every value cost 5.8 us a value (timeit, one run), 3.3 of them drawing, wrapping and
# setting up the key (notifications seals 1.4 values an event); 1,024 random nonces under one
# key are far inside AES-GCM's bound (2^32 values a key with random nonces, NIST SP 800-38D
# 8.3).
DATA_KEY_USES = 1024

# Public development keys (README): refused outside a development or test stack.
DEV_ENCRYPTION_KEY = "dev1:" + base64.b64encode(b"hospital-dev-data-encryption-k01").decode()
DEV_HASH_KEY = "hospital-dev-search-hash-key"


class BadKey(ValueError):
    """A key setting that is not `<id>:<32 bytes base64>`, or a value under an unknown key."""


class HashKeyChanged(RuntimeError):
    """DATA_HASH_KEY is not the key the database's search hashes were made with."""


class Undecryptable(ValueError):
    """A sealed value that does not open: tampered with, or sealed under another key."""


def parse_key(spec: str) -> tuple[str, bytes]:
    """`<id>:<base64 of 32 bytes>` -> (id, key); the error names neither."""
    kid, sep, encoded = spec.strip().partition(":")
    if not sep or not kid or ":" in kid:
        raise BadKey("a data encryption key is '<key id>:<32 bytes, base64>'")
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise BadKey(f"data encryption key {kid!r} is not base64") from None
    if len(key) != 32:
        raise BadKey(f"data encryption key {kid!r} is not 32 bytes (AES-256)")
    return kid, key


@dataclass(slots=True)
class _DataKey:
    """The data key values are sealed under now: the key id that wrapped it, its cipher, what
    each value stores before its nonce (wrap nonce | wrapped data key), and how many values it
    may still seal."""

    kid: str
    aead: AESGCM
    header: bytes
    uses_left: int


@dataclass(frozen=True)
class FieldCipher:
    current_id: str
    keys: dict[str, AESGCM]
    hash_key: bytes
    # Off only to measure what encryption costs (the bench; DATA_ENCRYPTION_ENABLED, refused
    # in production): new values are written as they are, sealed ones still open.
    enabled: bool = True
    # The current data key (a list: the dataclass is frozen), drawn at the first seal; not an
    # argument, so that a copy (dataclasses.replace) draws its own.
    _data_key: list[_DataKey] = field(default_factory=list, init=False, repr=False, compare=False)

    @classmethod
    def from_settings(
        cls, current: str, previous: str = "", hash_key: str = "", *, enabled: bool = True
    ) -> FieldCipher:
        kid, key = parse_key(current)
        keys = {kid: AESGCM(key)}
        for spec in filter(None, (s.strip() for s in previous.split(","))):
            old_id, old_key = parse_key(spec)
            keys.setdefault(old_id, AESGCM(old_key))
        if not hash_key:
            raise BadKey("DATA_HASH_KEY is empty")
        return cls(kid, keys, hash_key.encode(), enabled)

    def seal(self, text: str | None) -> str | None:
        """Encrypt under the current data key (a fresh nonce); None stays None."""
        if text is None or not self.enabled:
            return text
        key = self._data_key[0] if self._data_key else None
        if key is None or key.uses_left <= 0 or key.kid != self.current_id:
            key = self._new_data_key()
        key.uses_left -= 1
        nonce = os.urandom(NONCE)
        body = key.aead.encrypt(nonce, text.encode(), None)
        blob = base64.urlsafe_b64encode(b"".join((key.header, nonce, body))).decode()
        return f"{PREFIX}{self.current_id}:{blob}"

    def _new_data_key(self) -> _DataKey:
        """A fresh random data key, wrapped by the current key, for the next values."""
        fresh = os.urandom(32 + NONCE)
        dek, wrap_nonce = fresh[:32], fresh[32:]
        wrapped = self.keys[self.current_id].encrypt(wrap_nonce, dek, self.current_id.encode())
        key = _DataKey(self.current_id, AESGCM(dek), wrap_nonce + wrapped, DATA_KEY_USES)
        self._data_key[:] = [key]
        return key

    def open(self, stored: str | None) -> str | None:
        """The text of a sealed value; a value from before encryption as it is."""
        if stored is None or not stored.startswith(PREFIX):
            return stored
        kid, dek, nonce, body = self._split(stored)
        try:
            return AESGCM(dek).decrypt(nonce, body, None).decode()
        except InvalidTag:
            raise Undecryptable(f"a value under key {kid!r} does not open") from None

    def rewrap(self, stored: str | None) -> str | None:
        """The value with its data key wrapped by the current key (ciphertext unchanged); a
        plaintext value sealed; one already under the current key as it is."""
        if stored is None or not self.enabled:
            return stored
        if not stored.startswith(PREFIX):
            return self.seal(stored)
        if self.is_current(stored):
            return stored
        _, dek, nonce, body = self._split(stored)
        wrap_nonce = os.urandom(NONCE)
        wrapped = self.keys[self.current_id].encrypt(wrap_nonce, dek, self.current_id.encode())
        blob = base64.urlsafe_b64encode(wrap_nonce + wrapped + nonce + body).decode()
        return f"{PREFIX}{self.current_id}:{blob}"

    def is_current(self, stored: str | None) -> bool:
        return stored is None or stored.startswith(f"{PREFIX}{self.current_id}:")

    def search_hash(self, normalised: str) -> str:
        """HMAC-SHA256 of an exact-match value (a phone number in E.164), hex."""
        mac = self._keyed_hash.copy()
        mac.update(normalised.encode())
        return mac.hexdigest()

    @functools.cached_property
    def _keyed_hash(self) -> hmac.HMAC:
        """The HMAC with the hash key set, copied for each value: setting a key up with
        OpenSSL 3 is most of a small value's HMAC (4 against 13-18 us a phone number)."""
        return hmac.new(self.hash_key, digestmod=hashlib.sha256)

    def _split(self, stored: str) -> tuple[str, bytes, bytes, bytes]:
        kid, _, blob = stored[len(PREFIX) :].partition(":")
        kek = self.keys.get(kid)
        if kek is None:
            raise Undecryptable(f"no key {kid!r} (DATA_ENCRYPTION_PREVIOUS_KEYS?)")
        raw = base64.urlsafe_b64decode(blob)
        wrap_nonce, wrapped = raw[:NONCE], raw[NONCE : NONCE + WRAPPED]
        nonce, body = raw[NONCE + WRAPPED : 2 * NONCE + WRAPPED], raw[2 * NONCE + WRAPPED :]
        try:
            dek = kek.decrypt(wrap_nonce, wrapped, kid.encode())
        except InvalidTag:
            raise Undecryptable(f"a data key under key {kid!r} does not unwrap") from None
        return kid, dek, nonce, body


_cipher = FieldCipher.from_settings(DEV_ENCRYPTION_KEY, "", DEV_HASH_KEY)


def configure(current: str, previous: str, hash_key: str, *, enabled: bool = True) -> FieldCipher:
    """Set the process-wide cipher (the runtime does, from its settings)."""
    global _cipher
    _cipher = FieldCipher.from_settings(current, previous, hash_key, enabled=enabled)
    return _cipher


def configure_from_settings(settings: Any) -> FieldCipher:
    """`configure` from a process's settings (`ServiceSettings`: DATA_ENCRYPTION_*,
    DATA_HASH_KEY), as every process that seals values does at start; writing unencrypted is
    refused outside a development or test stack."""
    if not settings.data_encryption_enabled and not settings.development_stack:
        raise RuntimeError("DATA_ENCRYPTION_ENABLED=false is for a development or test stack")
    return configure(
        settings.data_encryption_key,
        settings.data_encryption_previous_keys,
        settings.data_hash_key,
        enabled=settings.data_encryption_enabled,
    )


def cipher() -> FieldCipher:
    return _cipher


async def check_hash_key(conn: Any) -> None:
    """Refuse DATA_HASH_KEY when the schema's search hashes were made with another one (the
    fingerprint the first start recorded, shared migration 060); record it when none is.
    Under another key an opted-out number no longer matches its opt-out, and the patient
    search by phone finds nobody, without a word: a start refused says why."""
    fingerprint = _cipher.search_hash("hash-key-fingerprint")[:16]
    await conn.execute(
        "INSERT INTO hash_key_fingerprint (fingerprint) VALUES ($1) ON CONFLICT DO NOTHING",
        fingerprint,
    )
    recorded = await conn.fetchval("SELECT fingerprint FROM hash_key_fingerprint")
    if recorded != fingerprint:
        raise HashKeyChanged(
            f"DATA_HASH_KEY (fingerprint {fingerprint}) is not the key this database's search"
            f" hashes were made with (fingerprint {recorded}): opted-out numbers would no"
            " longer match their opt-outs and the search by phone would find nobody. Set the"
            " key they were made with back (README, Encryption at rest)"
        )


def seal(text: str | None) -> str | None:
    return _cipher.seal(text)


def open_(stored: str | None) -> str | None:
    return _cipher.open(stored)


def search_hash(normalised: str | None) -> str | None:
    """The keyed hash of an exact-match value (None stays None)."""
    return None if normalised is None else _cipher.search_hash(normalised)


def seal_fields(row: Mapping[str, Any], columns: Iterable[str]) -> dict[str, Any]:
    """A copy of `row` with each of `columns` it holds sealed: what a store writes."""
    out = dict(row)
    for column in columns:
        if column in out:
            out[column] = _cipher.seal(out[column])
    return out


def open_fields(row: Mapping[str, Any], columns: Iterable[str]) -> dict[str, Any]:
    """A copy of `row` (a dict or a database record) with each of `columns` it holds opened:
    what a store gives back."""
    out = dict(row)
    for column in columns:
        if column in out:
            out[column] = _cipher.open(out[column])
    return out

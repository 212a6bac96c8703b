"""Encryption at rest: envelope encryption (a data key for up to DATA_KEY_USES values, a nonce
for each), rotation that keeps every value readable, keyed search hashes, and values from
before encryption read as they are."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hospital_shared.field_crypto import (
    DATA_KEY_USES,
    DEV_ENCRYPTION_KEY,
    NONCE,
    PREFIX,
    WRAPPED,
    BadKey,
    FieldCipher,
    Undecryptable,
    parse_key,
)

OLD = "k2025:" + base64.b64encode(b"o" * 32).decode()
NEW = "k2026:" + base64.b64encode(b"n" * 32).decode()
TEXT = "患者反映护士态度不好，电话 13800138000"


def cipher(current: str = OLD, previous: str = "", hash_key: str = "h") -> FieldCipher:
    return FieldCipher.from_settings(current, previous, hash_key)


def test_a_sealed_value_shows_nothing_of_the_text_and_opens_to_it() -> None:
    c = cipher()
    sealed = c.seal(TEXT)
    assert sealed is not None and sealed.startswith(f"{PREFIX}k2025:")
    assert "13800138000" not in sealed and "护士" not in sealed
    assert c.open(sealed) == TEXT
    assert c.seal(TEXT) != sealed  # a fresh nonce every time


def _raw(sealed: str | None) -> bytes:
    assert sealed is not None
    return base64.urlsafe_b64decode(sealed.split(":", 2)[2])


def _data_key_of(sealed: str | None) -> bytes:
    """What a sealed value stores of its data key: wrap nonce and wrapped key."""
    return _raw(sealed)[: NONCE + WRAPPED]


def test_a_data_key_seals_DATA_KEY_USES_values_then_a_fresh_one_is_drawn() -> None:
    c = cipher()
    sealed = [c.seal(f"{TEXT} {i}") for i in range(2 * DATA_KEY_USES + 1)]
    keys = [_data_key_of(s) for s in sealed]
    assert len(set(keys[:DATA_KEY_USES])) == 1
    assert len(set(keys)) == 3 and keys[DATA_KEY_USES] != keys[0]
    nonces = {_raw(s)[NONCE + WRAPPED : 2 * NONCE + WRAPPED] for s in sealed}
    assert len(nonces) == len(sealed)  # a fresh nonce for each value
    assert [c.open(s) for s in sealed] == [f"{TEXT} {i}" for i in range(len(sealed))]
    # and a value re-wrapped under a new key leaves the others of its data key as they were
    rotated = cipher(NEW, previous=OLD)
    moved = rotated.rewrap(sealed[0])
    assert moved is not None and rotated.is_current(moved) and rotated.open(moved) == f"{TEXT} 0"
    assert rotated.open(sealed[1]) == f"{TEXT} 1" and c.open(sealed[1]) == f"{TEXT} 1"


def test_two_ciphers_never_share_a_data_key() -> None:
    assert _data_key_of(cipher().seal(TEXT)) != _data_key_of(cipher().seal(TEXT))


def test_a_copy_under_another_key_draws_its_own_data_key() -> None:
    old = cipher(OLD)
    first = old.seal(TEXT)
    kid, key = parse_key(NEW)
    copied = replace(old, current_id=kid, keys={**old.keys, kid: AESGCM(key)})
    moved = copied.seal(TEXT)
    assert copied.is_current(moved) and copied.open(moved) == TEXT
    assert _data_key_of(moved) != _data_key_of(first) and old.open(first) == TEXT


def test_none_and_values_from_before_encryption_are_read_as_they_are() -> None:
    assert cipher().seal(None) is None and cipher().open(None) is None
    assert cipher().open("13800138000") == "13800138000"


def test_after_a_rotation_old_values_open_and_new_ones_use_the_new_key() -> None:
    old_value = cipher(OLD).seal(TEXT)
    rotated = cipher(NEW, previous=OLD)
    assert rotated.open(old_value) == TEXT
    assert rotated.seal(TEXT).startswith(f"{PREFIX}k2026:")  # type: ignore[union-attr]


def test_rewrap_moves_a_value_to_the_current_key_keeping_its_ciphertext() -> None:
    old_value = cipher(OLD).seal(TEXT)
    assert old_value is not None
    rotated = cipher(NEW, previous=OLD)
    moved = rotated.rewrap(old_value)
    assert moved is not None and rotated.is_current(moved) and not rotated.is_current(old_value)
    assert cipher(NEW).open(moved) == TEXT  # the old key is no longer needed
    body = base64.urlsafe_b64decode(moved.rsplit(":", 1)[1])[12 + 48 :]
    assert body == base64.urlsafe_b64decode(old_value.rsplit(":", 1)[1])[12 + 48 :]
    assert rotated.rewrap(moved) == moved
    plain = rotated.rewrap("13800138000")
    assert plain is not None and rotated.is_current(plain) and rotated.open(plain) == "13800138000"


def test_a_value_under_a_key_no_longer_given_does_not_open() -> None:
    with pytest.raises(Undecryptable, match="k2025"):
        cipher(NEW).open(cipher(OLD).seal(TEXT))


def test_a_tampered_value_does_not_open() -> None:
    sealed = cipher().seal(TEXT)
    assert sealed is not None
    raw = bytearray(base64.urlsafe_b64decode(sealed.rsplit(":", 1)[1]))
    raw[-1] ^= 1
    tampered = sealed.rsplit(":", 1)[0] + ":" + base64.urlsafe_b64encode(bytes(raw)).decode()
    with pytest.raises(Undecryptable):
        cipher().open(tampered)


def test_a_value_relabelled_with_another_key_id_does_not_open() -> None:
    """The key id is bound into the wrapping: a value cannot be passed off as another key's."""
    sealed = cipher(OLD).seal(TEXT)
    assert sealed is not None
    relabelled = sealed.replace("k2025:", "k2026:", 1)
    both = cipher(NEW, previous=OLD.replace("k2025", "k2027"))
    with pytest.raises(Undecryptable):
        both.open(relabelled)


def test_search_hashes_are_keyed_and_equal_for_equal_numbers() -> None:
    a, b = cipher(hash_key="one"), cipher(hash_key="two")
    assert a.search_hash("+8613800138000") == a.search_hash("+8613800138000")
    assert a.search_hash("+8613800138000") != a.search_hash("+8613800138001")
    assert a.search_hash("+8613800138000") != b.search_hash("+8613800138000")


def test_a_search_hash_is_the_hmac_the_stored_hashes_were_made_with() -> None:
    """Rows keep the hashes made before: an exact search must still find them."""
    expected = hmac.new(b"h", b"+8613800138000", hashlib.sha256).hexdigest()
    assert cipher().search_hash("+8613800138000") == expected
    assert cipher().search_hash("+8613800138000") == expected  # the keyed HMAC is reused


@pytest.mark.parametrize(
    "spec", ["nokey", ":" + DEV_ENCRYPTION_KEY.split(":")[1], "k1:not base64!", "k1:" + "QUJD"]
)
def test_a_malformed_key_setting_is_refused_without_showing_the_key(spec: str) -> None:
    with pytest.raises(BadKey) as refused:
        cipher(spec)
    assert spec.partition(":")[2] not in str(refused.value) or not spec.partition(":")[2]


def test_an_empty_hash_key_is_refused() -> None:
    with pytest.raises(BadKey, match="DATA_HASH_KEY"):
        cipher(hash_key="")

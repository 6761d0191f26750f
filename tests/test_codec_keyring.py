"""The payload codec's keyring: after a rotation new payloads use the new key, old ones still open."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from temporalio.api.common.v1 import Payload

from coderunner.codec.aes import EncryptionCodec
from coderunner.config.home import add_active_key, read_or_create_key, read_or_create_keys


async def test_rotation_keeps_old_payloads_readable(tmp_path: Path) -> None:
    path = tmp_path / "codec.key"
    before = EncryptionCodec(read_or_create_keys(path))
    old = (await before.encode([Payload(metadata={"encoding": b"json/plain"}, data=b'"history"')]))[0]

    new_key = add_active_key(path)
    assert read_or_create_key(path) == new_key and len(read_or_create_keys(path)) == 2
    after = EncryptionCodec(read_or_create_keys(path))
    fresh = (await after.encode([Payload(data=b'"new"')]))[0]

    assert fresh.metadata["encryption-key-id"] != old.metadata["encryption-key-id"]
    assert (await after.decode([old]))[0].data == b'"history"'
    assert (await after.decode([fresh]))[0].data == b'"new"'
    with pytest.raises(ValueError, match="unknown key id"):  # a process still on the old ring only
        await before.decode([fresh])


async def test_a_flipped_byte_is_refused(tmp_path: Path) -> None:
    codec = EncryptionCodec(read_or_create_keys(tmp_path / "codec.key"))
    sealed = (await codec.encode([Payload(data=b"x")]))[0]
    data = bytearray(sealed.data)
    data[-1] ^= 1
    with pytest.raises(InvalidTag):
        await codec.decode([Payload(metadata=sealed.metadata, data=bytes(data))])

"""One way to build a Temporal client: pydantic data converter + AES-GCM payload codec."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes
from temporalio.runtime import Runtime

from coderunner.codec.aes import EncryptionCodec
from coderunner.config.settings import Settings, StackNotRunning


def data_converter(key: bytes | Sequence[bytes]) -> DataConverter:
    """Failure messages are encoded too: an error text may quote a value we must not leak."""
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec(key),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    """Connect, turning a refused connection into the message users can act on."""
    try:
        return await Client.connect(
            settings.temporal_address,
            namespace=settings.namespace,
            data_converter=data_converter(settings.codec_keys()),
            runtime=runtime,
        )
    except RuntimeError as err:
        raise StackNotRunning(f"Temporal not reachable at {settings.temporal_address}") from err

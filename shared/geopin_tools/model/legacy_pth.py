"""torch's legacy checkpoint format (torch < 1.6, or ``_use_new_zipfile_serialization=False``).

Weights published years ago are often in it, the ImageNet EfficientNet-Lite0 of GeoPin's
default model among them. The file is a row of pickles followed by raw bytes:

1. the magic number ``0x1950a86a20f9469cfc6c``, 2. the protocol version 1001, 3. a dict of
system facts (byte order, C type sizes), 4. the object itself, whose tensors name their storages
by persistent ids ``('storage', type, key, location, numel, view)``, 5. the list of storage
keys, then, for each key in that order, an 8-byte little-endian element count and the elements.

Every pickle goes through :mod:`geopin_tools.model.safe_unpickler`'s allow-list. The storages' bytes
can only be found by knowing each one's element size, which only the object pickle says, so it
is read twice: once to learn the storages (building nothing), once to build the tensors.
"""

from __future__ import annotations

import io
import struct
from typing import Any

import numpy as np
import numpy.typing as npt

from geopin_tools.model.safe_unpickler import CheckpointError, survey_storages, unpickle

# A protocol-2 pickle of the magic number, as every legacy file begins.
LEGACY_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"
_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
_PROTOCOL_VERSION = 1001
_COUNT = struct.Struct("<q")


def load_legacy(data: bytes, file_name: str) -> object:
    """The object a legacy ``torch.save`` file holds, its tensors as numpy arrays."""
    stream = io.BytesIO(data)
    magic, protocol, system = (unpickle(stream, _no_storages, file_name, "header") for _ in "123")
    _check_header(magic, protocol, system, file_name)
    object_start = stream.tell()
    storages = survey_storages(stream, file_name)
    keys = unpickle(stream, _no_storages, file_name, "storage key list")
    if not (
        isinstance(keys, list)
        and all(isinstance(key, str) for key in keys)
        and sorted(keys) == sorted(storages)
    ):
        raise CheckpointError(f"{file_name}'s storage key list does not match its tensors")
    records = _read_records(data, stream.tell(), keys, storages, file_name)

    def read(key: str, dtype: np.dtype[Any], count: int) -> npt.NDArray[Any]:
        values = records[key]
        if (values.dtype, values.size) != (dtype, count):  # the same pickle read again
            raise CheckpointError(f"storage {key} changed between two reads of {file_name}")
        return values

    stream.seek(object_start)
    return unpickle(stream, read, file_name, "tensor pickle")


def _check_header(magic: object, protocol: object, system: object, file_name: str) -> None:
    if magic != _MAGIC_NUMBER or protocol != _PROTOCOL_VERSION:
        raise CheckpointError(
            f"{file_name} is not a legacy torch.save file (magic {magic!r:.30}, "
            f"protocol {protocol!r:.20})"
        )
    if not (isinstance(system, dict) and system.get("little_endian") is True):
        # Every platform torch ships for is little-endian; a file that says otherwise is not
        # one GeoPin can read byte for byte.
        raise CheckpointError(f"{file_name} was not saved on a little-endian machine")


def _read_records(
    data: bytes,
    offset: int,
    keys: list[str],
    storages: dict[str, tuple[np.dtype[Any], int]],
    file_name: str,
) -> dict[str, npt.NDArray[Any]]:
    """Each storage's elements, checked against the count the pickle gave and the file's end."""
    records: dict[str, npt.NDArray[Any]] = {}
    for key in keys:
        dtype, count = storages[key]
        end = offset + _COUNT.size + count * dtype.itemsize
        if end > len(data):
            raise CheckpointError(f"{file_name} ends inside storage {key}: it is truncated")
        (stored,) = _COUNT.unpack_from(data, offset)
        if stored != count:
            raise CheckpointError(
                f"{file_name}: storage {key} holds {stored} elements, its tensors say {count}"
            )
        records[key] = np.frombuffer(data, dtype, count, offset + _COUNT.size)
        offset = end
    if offset != len(data):
        raise CheckpointError(f"{file_name} has {len(data) - offset} bytes after its storages")
    return records


def _no_storages(key: str, dtype: np.dtype[Any], count: int) -> npt.NDArray[Any]:
    """The header pickles and the key list name no storage; one that does is not torch's."""
    raise CheckpointError("a persistent id outside the tensor pickle")

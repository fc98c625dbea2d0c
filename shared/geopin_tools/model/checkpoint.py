"""Read PyTorch ``.pth`` checkpoints into numpy without torch and without running pickled code.

A checkpoint is untrusted input. GeoPin reads both formats of ``torch.save`` itself: the zip
format (torch >= 1.6), whose pickle is ``<archive>/data.pkl`` and whose storages are the records
``<archive>/data/<key>``, and the legacy one (:mod:`geopin_tools.model.legacy_pth`), in which the
weights GeoPin's default model comes from are published. Either way the pickle goes through
:mod:`geopin_tools.model.safe_unpickler`, whose allow-list admits only what a state_dict is made of,
and the tensors are built with numpy from the raw storages. The file's sha256 comes with the
weights, so an exported model can say which file it came from.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from geopin_tools.model.architecture import StateDict
from geopin_tools.model.legacy_pth import LEGACY_MAGIC, load_legacy
from geopin_tools.model.safe_unpickler import (
    CheckpointError,
    StorageReader,
    UnsafeCheckpoint,
    unpickle,
)

__all__ = ["CheckpointError", "LoadedCheckpoint", "UnsafeCheckpoint", "load_checkpoint"]

# Checkpoints that wrap the weights with training state, as CosPlace's own last_checkpoint.pth.
STATE_DICT_WRAPPERS = ("model_state_dict", "state_dict")


@dataclass(frozen=True)
class LoadedCheckpoint:
    """The weights of a checkpoint and the sha256 of the exact bytes they were read from."""

    path: Path
    state_dict: StateDict
    sha256: str


def load_checkpoint(path: str | os.PathLike[str]) -> LoadedCheckpoint:
    """Read the state_dict of a ``torch.save`` checkpoint, with the file's sha256."""
    source = Path(path)
    data = source.read_bytes()  # parsed from memory, so the hash is of exactly what was read
    digest = hashlib.sha256(data).hexdigest()
    if data.startswith(LEGACY_MAGIC):
        loaded = load_legacy(data, source.name)
    elif data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                loaded = _unpickle(archive, source.name)
        except zipfile.BadZipFile as exc:
            raise CheckpointError(f"{source.name} is a damaged zip file: {exc}") from exc
    else:
        raise CheckpointError(f"{source.name} is not a torch.save checkpoint (no zip header)")
    return LoadedCheckpoint(source, _state_dict_in(loaded, source.name), digest)


def _unpickle(archive: zipfile.ZipFile, file_name: str) -> object:
    """The object in ``<archive>/data.pkl``; torch names the archive folder after the file."""
    names = archive.namelist()
    prefix = names[0].partition("/")[0] + "/" if names and "/" in names[0] else ""
    if not prefix or f"{prefix}data.pkl" not in names:
        raise CheckpointError(f"{file_name} is a zip file but not a torch.save checkpoint")
    byteorder = archive.read(f"{prefix}byteorder") if f"{prefix}byteorder" in names else b"little"
    if byteorder != b"little":
        # Every platform torch ships for is little-endian; files without the record (torch < 2.1)
        # are read as little-endian for the same reason.
        raise CheckpointError(
            f"{file_name} was saved {byteorder!r:.20}-endian; GeoPin reads little"
        )
    data_pkl = io.BytesIO(archive.read(f"{prefix}data.pkl"))
    return unpickle(data_pkl, _zip_records(archive, prefix), file_name, "data.pkl")


def _zip_records(archive: zipfile.ZipFile, prefix: str) -> StorageReader:
    """Storages of the zip format: record ``<prefix>data/<key>`` holds exactly their bytes."""

    def read(key: str, dtype: np.dtype[Any], count: int) -> npt.NDArray[Any]:
        name = f"{prefix}data/{key}"
        expected = count * dtype.itemsize
        try:
            info = archive.getinfo(name)
        except KeyError:
            raise CheckpointError(f"record {name} is missing") from None
        if info.file_size != expected:
            raise CheckpointError(f"record {name} holds {info.file_size} bytes, not {expected}")
        return np.frombuffer(archive.read(info), dtype=dtype)

    return read


def _state_dict_in(loaded: object, file_name: str) -> StateDict:
    """The state_dict itself, or the one a training checkpoint keeps under a known key."""
    if isinstance(loaded, Mapping):
        for wrapper in STATE_DICT_WRAPPERS:
            if isinstance(loaded.get(wrapper), Mapping):
                return _state_dict_in(loaded[wrapper], file_name)
        if loaded and all(
            isinstance(key, str) and isinstance(value, np.ndarray) for key, value in loaded.items()
        ):
            return dict(loaded)
        keys = ", ".join(repr(key) for key in list(loaded)[:5])
        raise CheckpointError(
            f"{file_name} holds a dict that is not a state_dict of tensors (first keys: {keys})"
        )
    raise CheckpointError(f"{file_name} holds a {type(loaded).__name__}, not a state_dict")

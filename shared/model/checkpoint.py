"""Read PyTorch ``.pth`` checkpoints into numpy without torch and without running pickled code.

A checkpoint is untrusted input. GeoPin reads the zip format of ``torch.save`` (torch >= 1.6)
itself: the pickle in ``<archive>/data.pkl`` goes through :mod:`shared.model.safe_unpickler`,
whose allow-list admits only what a state_dict is made of, and the tensors are built with numpy
from the raw storages in ``<archive>/data/<key>``. The file's sha256 comes with the weights, so
an exported model can say which file it came from.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shared.model.architecture import StateDict
from shared.model.safe_unpickler import CheckpointError, UnsafeCheckpoint, load_data_pkl

__all__ = ["CheckpointError", "LoadedCheckpoint", "UnsafeCheckpoint", "load_checkpoint"]

# Checkpoints that wrap the weights with training state, as CosPlace's own last_checkpoint.pth.
STATE_DICT_WRAPPERS = ("model_state_dict", "state_dict")
# What torch.save(..., _use_new_zipfile_serialization=False) and torch < 1.6 begin with: a
# protocol-2 pickle of the legacy magic number 0x1950a86a20f9469cfc6c.
_LEGACY_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"


@dataclass(frozen=True)
class LoadedCheckpoint:
    """The weights of a checkpoint and the sha256 of the exact bytes they were read from."""

    path: Path
    state_dict: StateDict
    sha256: str


def load_checkpoint(path: str | os.PathLike[str]) -> LoadedCheckpoint:
    """Read the state_dict of a ``torch.save`` zip checkpoint, with the file's sha256."""
    source = Path(path)
    data = source.read_bytes()  # parsed from memory, so the hash is of exactly what was read
    digest = hashlib.sha256(data).hexdigest()
    if not data.startswith(b"PK\x03\x04"):
        if data.startswith(_LEGACY_MAGIC):
            raise CheckpointError(
                f"{source.name} uses torch's legacy (pre-1.6, non-zip) format; re-save it with "
                "a recent torch: torch.save(torch.load(old, weights_only=True), new)"
            )
        raise CheckpointError(f"{source.name} is not a torch.save checkpoint (no zip header)")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            loaded = _unpickle(archive, source.name)
    except zipfile.BadZipFile as exc:
        raise CheckpointError(f"{source.name} is a damaged zip file: {exc}") from exc
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
    return load_data_pkl(archive, prefix, file_name)


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

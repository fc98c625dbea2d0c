"""Write a numpy state_dict as ``torch.save`` would, without torch.

Tests and CI need checkpoints in the official CosPlace layout to prove the export path end to
end, and torch is too heavy to install for that. This writes the records current torch
releases write, in their order and with their contents: ``<archive>/data.pkl`` (a protocol-2
pickle of an OrderedDict of tensors, each ``torch._utils._rebuild_tensor_v2`` over a persistent
storage id), ``.format_version``, ``.storage_alignment``, ``byteorder``, one ``data/<key>`` per
storage, ``version`` and ``.data/serialization_id``, stored uncompressed with each record's
data aligned to 64 bytes as torch's writer does. ``data.pkl`` is byte for byte what CPython's
pickler makes of torch's tensors (the tests check it); the zip container's own fields and the
serialization id's digits differ from torch's, and no reader looks at them.

The pickle opcodes are written here directly: the pickler cannot name torch's functions
without importing torch, and writing them by hand keeps the memo numbering exactly CPython's.
"""

from __future__ import annotations

import hashlib
import os
import struct
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from geopin_tools.model.safe_unpickler import STORAGE_DTYPES

_ALIGNMENT = 64  # torch aligns every record's data to 64 bytes (mmap-friendly)
_ZIP_LOCAL_HEADER = 30
_PADDING_EXTRA_ID = b"FB"  # the zip extra-field id torch's writer pads with
_FORMAT_VERSION = b"1"  # storages keyed in numeric order
_FILE_FORMAT_VERSION = b"3\n"  # torch.save's zip format version
_SETITEMS_BATCH = 1000  # CPython's pickler closes a SETITEMS every 1000 items
_STORAGE_NAMES = {dtype.str.lstrip("<|"): name for name, dtype in STORAGE_DTYPES.items()}


@dataclass(frozen=True)
class _Tensor:
    """Where one state_dict entry lives: a storage key, and its offset, size and stride."""

    key: str
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


class _Opcodes:
    """Pickle protocol 2, the subset a state_dict needs, memoised like CPython's pickler."""

    def __init__(self) -> None:
        self.out = bytearray(b"\x80\x02")  # PROTO 2
        self._memo: dict[tuple[str, str], int] = {}
        self._next = 0

    def put(self) -> None:
        index, self._next = self._next, self._next + 1
        self.out += b"q" + bytes([index]) if index < 256 else b"r" + struct.pack("<I", index)

    def _get(self, index: int) -> None:
        self.out += b"h" + bytes([index]) if index < 256 else b"j" + struct.pack("<I", index)

    def shared(self, kind: str, value: str) -> bool:
        """Reuse a memoised object (same global, same constant string); True if it was."""
        if (kind, value) in self._memo:
            self._get(self._memo[(kind, value)])
            return True
        self._memo[(kind, value)] = self._next
        return False

    def global_(self, module: str, name: str) -> None:
        if not self.shared("global", f"{module}\n{name}"):
            self.out += b"c" + f"{module}\n{name}\n".encode()
            self.put()

    def string(self, value: str, *, constant: bool = False) -> None:
        """A str; ``constant`` ones are one object in torch's code, so later uses are memo hits."""
        if constant and self.shared("string", value):
            return
        encoded = value.encode()
        self.out += b"X" + struct.pack("<I", len(encoded)) + encoded
        self.put()

    def integer(self, value: int) -> None:
        if 0 <= value < 0x100:
            self.out += b"K" + bytes([value])
        elif 0 <= value < 0x10000:
            self.out += b"M" + struct.pack("<H", value)
        elif -(2**31) <= value < 2**31:
            self.out += b"J" + struct.pack("<i", value)
        else:
            encoded = value.to_bytes(value.bit_length() // 8 + 1, "little", signed=True)
            self.out += b"\x8a" + bytes([len(encoded)]) + encoded

    def int_tuple(self, values: tuple[int, ...]) -> None:
        if not values:
            self.out += b")"  # the empty tuple is a singleton: never memoised
            return
        if len(values) > 3:
            self.out += b"("
        for value in values:
            self.integer(value)
        self.out += b"t" if len(values) > 3 else bytes([0x84 + len(values)])  # TUPLE1..3
        self.put()

    def ordered_dict(self) -> None:
        self.global_("collections", "OrderedDict")
        self.out += b")R"  # OrderedDict(): EMPTY_TUPLE, REDUCE
        self.put()


def save_state_dict_pth(
    state_dict: Mapping[str, npt.ArrayLike],
    path: str | os.PathLike[str],
    wrapper_key: str | None = None,
) -> None:
    """Write ``torch.save(OrderedDict(state_dict), path)``, or ``{wrapper_key: ...}`` around it.

    Arrays that view one contiguous base array share one storage, at their offsets and strides,
    as torch's views do; any other array gets a storage of its own.
    """
    target = Path(path)
    storages: dict[int, tuple[str, npt.NDArray[Any]]] = {}
    tensors = {name: _place(np.asarray(value), storages) for name, value in state_dict.items()}
    pickle = _Opcodes()
    if wrapper_key is not None:
        pickle.out += b"}"  # EMPTY_DICT
        pickle.put()
        pickle.string(wrapper_key)
    _pickle_state_dict(pickle, tensors, {key: base for key, base in storages.values()})
    if wrapper_key is not None:
        pickle.out += b"s"  # SETITEM
    pickle.out += b"."  # STOP
    records = [
        ("data.pkl", bytes(pickle.out)),
        (".format_version", _FORMAT_VERSION),
        (".storage_alignment", str(_ALIGNMENT).encode()),
        ("byteorder", b"little"),
        *((f"data/{key}", _little_endian(base)) for key, base in storages.values()),
        ("version", _FILE_FORMAT_VERSION),
    ]
    records.append((".data/serialization_id", _serialization_id(records)))
    _write_zip(target, target.stem, records)


def _place(array: npt.NDArray[Any], storages: dict[int, tuple[str, npt.NDArray[Any]]]) -> _Tensor:
    """The storage an array lives in: its contiguous base array if it is a plain view of one."""
    if array.dtype.str.lstrip("<>|=") not in _STORAGE_NAMES:
        raise ValueError(f"torch has no storage type for dtype {array.dtype}")
    base = array
    while isinstance(base.base, np.ndarray):
        base = base.base
    itemsize = array.itemsize
    start = array.__array_interface__["data"][0] - base.__array_interface__["data"][0]
    viewable = (
        base.flags.c_contiguous
        and base.dtype == array.dtype
        and start % itemsize == 0
        and all(step >= 0 and step % itemsize == 0 for step in array.strides)
    )
    if not viewable:
        base = np.ascontiguousarray(array)
        start = 0
    key, _ = storages.setdefault(id(base), (str(len(storages)), base))
    strides = array.strides if viewable else base.strides
    return _Tensor(
        key, start // itemsize, tuple(array.shape), tuple(step // itemsize for step in strides)
    )


def _pickle_state_dict(
    pickle: _Opcodes, tensors: Mapping[str, _Tensor], bases: Mapping[str, npt.NDArray[Any]]
) -> None:
    """``OrderedDict`` of ``_rebuild_tensor_v2(storage, offset, size, stride, False, {})``."""
    pickle.ordered_dict()
    for batch in _batches(list(tensors.items())):
        if len(batch) > 1:
            pickle.out += b"("
        for name, tensor in batch:
            pickle.string(name)
            pickle.global_("torch._utils", "_rebuild_tensor_v2")
            pickle.out += b"("
            base = bases[tensor.key]
            pickle.out += b"("  # the persistent id ('storage', type, key, location, numel)
            pickle.string("storage", constant=True)
            pickle.global_("torch", _STORAGE_NAMES[base.dtype.str.lstrip("<>|=")])
            if not pickle.shared("storage key", tensor.key):
                pickle.string(tensor.key)
            pickle.string("cpu", constant=True)
            pickle.integer(base.size)
            pickle.out += b"t"
            pickle.put()
            pickle.out += b"Q"  # BINPERSID
            pickle.integer(tensor.offset)
            pickle.int_tuple(tensor.size)
            pickle.int_tuple(tensor.stride)
            pickle.out += b"\x89"  # requires_grad: NEWFALSE
            pickle.ordered_dict()  # backward hooks
            pickle.out += b"t"
            pickle.put()
            pickle.out += b"R"
            pickle.put()
        pickle.out += b"u" if len(batch) > 1 else b"s"


def _batches(items: list[tuple[str, _Tensor]]) -> Iterator[list[tuple[str, _Tensor]]]:
    for start in range(0, len(items), _SETITEMS_BATCH):
        yield items[start : start + _SETITEMS_BATCH]


def _little_endian(array: npt.NDArray[Any]) -> bytes:
    return array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()


def _serialization_id(records: list[tuple[str, bytes]]) -> bytes:
    """40 digits, as torch writes; torch derives them from name hashes and CRCs and never checks
    them, so a digest of the records serves: the same weights give the same file."""
    digest = hashlib.sha256()
    for name, data in records:
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return f"{int.from_bytes(digest.digest()[:16], 'big') % 10**40:040d}".encode()


def _write_zip(target: Path, archive_name: str, records: list[tuple[str, bytes]]) -> None:
    """Stored (uncompressed) records under ``<archive_name>/``, each data start 64-aligned."""
    with target.open("wb") as handle, zipfile.ZipFile(handle, "w", zipfile.ZIP_STORED) as archive:
        for name, data in records:
            info = zipfile.ZipInfo(f"{archive_name}/{name}")
            header_end = handle.tell() + _ZIP_LOCAL_HEADER + len(info.filename.encode()) + 4
            padding = -header_end % _ALIGNMENT
            info.extra = _PADDING_EXTRA_ID + struct.pack("<H", padding) + b"Z" * padding
            archive.writestr(info, data)

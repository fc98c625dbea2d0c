"""Factories for the model tests: torch-like pickles without torch, and trained-looking weights.

``torch_like_pickle`` runs CPython's own pickler over stand-ins that reduce exactly as torch's
tensors and storages do (``Tensor.__reduce_ex__``, ``torch.serialization._save``'s
``persistent_id``), under torch's module and function names. What it produces is what
``torch.save`` puts in ``data.pkl``, which is the yardstick for GeoPin's reader and writer.
"""

from __future__ import annotations

import io
import pickle
import struct
import sys
import types
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
from geopin_tools.model.architecture import StateDict


@dataclass(eq=False)
class FakeStorage:
    """A torch TypedStorage: a storage type name and its elements."""

    type_name: str
    values: npt.NDArray[Any]


@dataclass(eq=False)
class FakeTensor:
    """A torch tensor over a storage; it reduces as a plain ``torch.Tensor`` does."""

    storage: FakeStorage
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]
    wrapped: str = ""  # "parameter" or "from_type": the other two ways torch has pickled tensors

    def __reduce__(self) -> tuple[Any, ...]:
        hooks: OrderedDict[Any, Any] = OrderedDict()
        args = (self.storage, self.offset, tuple(self.size), tuple(self.stride), False, hooks)
        if self.wrapped == "parameter":
            return (_REBUILD_PARAMETER, (_PlainTensor(args), False, OrderedDict()))
        if self.wrapped == "from_type":
            return (_REBUILD_FROM_TYPE_V2, (_REBUILD_TENSOR_V2, _TENSOR, args, {}))
        return (_REBUILD_TENSOR_V2, args)


@dataclass(eq=False)
class _PlainTensor:
    args: tuple[Any, ...]

    def __reduce__(self) -> tuple[Any, ...]:
        return (_REBUILD_TENSOR_V2, self.args)


_MODULES = {name: types.ModuleType(name) for name in ("torch", "torch._utils", "torch._tensor")}
_T = TypeVar("_T")


def _torch_name(module: str, name: str, value: _T) -> _T:
    """Give a stand-in torch's name, so the pickler writes the GLOBAL torch.save would."""
    for attribute in ("__module__", "__qualname__", "__name__"):
        setattr(value, attribute, module if attribute == "__module__" else name)
    setattr(_MODULES[module], name, value)
    return value


def _stand_in() -> Callable[..., None]:
    def function(*args: Any) -> None:
        raise AssertionError("stands in for a torch function when pickling; never called")

    return function


_REBUILD_TENSOR_V2 = _torch_name("torch._utils", "_rebuild_tensor_v2", _stand_in())
_REBUILD_PARAMETER = _torch_name("torch._utils", "_rebuild_parameter", _stand_in())
_REBUILD_FROM_TYPE_V2 = _torch_name("torch._tensor", "_rebuild_from_type_v2", _stand_in())
_TENSOR = _torch_name("torch", "Tensor", type("Tensor", (), {}))
_STORAGE_TYPES = {
    name: _torch_name("torch", name, type(name, (), {}))
    for name in ("FloatStorage", "DoubleStorage", "HalfStorage", "LongStorage")
}


@contextmanager
def _torch_modules() -> Iterator[None]:
    """torch's module names resolve to the stand-ins while pickling, and to nothing after."""
    saved = {name: sys.modules.get(name) for name in _MODULES}
    sys.modules.update(_MODULES)
    try:
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                del sys.modules[name]
            else:
                sys.modules[name] = module


class _TorchLikePickler(pickle.Pickler):
    """torch.serialization._save's pickler: storages become ('storage', type, key, 'cpu', n).

    The legacy format's pickler adds a sixth field, None (no view of another storage).
    """

    def __init__(self, file: io.BytesIO, legacy: bool) -> None:
        super().__init__(file, protocol=2)
        self._legacy = legacy
        self._keys: dict[int, str] = {}

    def persistent_id(self, obj: Any) -> Any:
        if isinstance(obj, FakeStorage):
            number = len(self._keys)
            key = self._keys.setdefault(
                id(obj), legacy_key(number) if self._legacy else str(number)
            )
            pid = ("storage", _STORAGE_TYPES[obj.type_name], key, "cpu", obj.values.size)
            return (*pid, None) if self._legacy else pid
        return None


def legacy_key(number: int) -> str:
    """The legacy format keys storages by memory address; these sort the other way round from
    the order the pickle meets them, as addresses may, so readers cannot rely on that order."""
    return str(10**8 - 1013 * number)


def torch_like_pickle(obj: object, legacy: bool = False) -> bytes:
    """``data.pkl`` as torch.save writes it for ``obj`` made of FakeTensors and containers."""
    buffer = io.BytesIO()
    with _torch_modules():
        _TorchLikePickler(buffer, legacy).dump(obj)
    return buffer.getvalue()


# What a legacy file begins with: the magic number, protocol 1001 and the system facts.
LEGACY_HEADER = b"".join(
    pickle.dumps(value, protocol=2)
    for value in (
        0x1950A86A20F9469CFC6C,
        1001,
        {"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2}},
    )
)


def legacy_bytes(
    data_pkl: bytes, storages: Mapping[str, npt.NDArray[Any]], keys: list[str] | None = None
) -> bytes:
    """A legacy torch.save file around a given object pickle: header, pickle, key list, then
    each storage (in key-list order) as its 8-byte element count and its elements."""
    keys = sorted(storages) if keys is None else keys
    parts = [LEGACY_HEADER, data_pkl, pickle.dumps(keys, protocol=2)]
    for key in keys:
        values = storages[key]
        parts.append(struct.pack("<q", values.size))
        parts.append(values.astype(values.dtype.newbyteorder("<")).tobytes())
    return b"".join(parts)


def save_like_torch_legacy(path: Path, obj: object) -> Path:
    """``torch.save(obj, path, _use_new_zipfile_serialization=False)`` for FakeTensors."""
    storages = {legacy_key(int(k)): s.values for k, s in storages_of(obj).items()}
    path.write_bytes(legacy_bytes(torch_like_pickle(obj, legacy=True), storages))
    return path


def storages_of(obj: object) -> dict[str, FakeStorage]:
    """The storages a pickle of ``obj`` refers to, keyed in the order the pickler meets them."""
    found: dict[int, FakeStorage] = {}

    def visit(value: object) -> None:
        if isinstance(value, Mapping):
            for item in value.values():
                visit(item)
        elif isinstance(value, FakeTensor):
            found.setdefault(id(value.storage), value.storage)

    visit(obj)
    return {str(index): storage for index, storage in enumerate(found.values())}


def write_checkpoint(
    path: Path,
    data_pkl: bytes,
    storages: Mapping[str, bytes] | None = None,
    byteorder: bytes | None = b"little",
) -> Path:
    """A torch.save-shaped zip around a given ``data.pkl``, for pickles built by hand."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", data_pkl)
        if byteorder is not None:
            archive.writestr("archive/byteorder", byteorder)
        for key, data in (storages or {}).items():
            archive.writestr(f"archive/data/{key}", data)
        archive.writestr("archive/version", b"3\n")
    return path


def save_like_torch(path: Path, obj: object) -> Path:
    """``torch.save(obj, path)`` for an object of FakeTensors, in the zip layout."""
    storages = {
        key: storage.values.astype(storage.values.dtype.newbyteorder("<")).tobytes()
        for key, storage in storages_of(obj).items()
    }
    return write_checkpoint(path, torch_like_pickle(obj), storages)


def fake_tensors(state_dict: Mapping[str, npt.NDArray[Any]]) -> OrderedDict[str, FakeTensor]:
    """Each array as a contiguous tensor of its own storage, like ``model.state_dict()``."""
    type_names = {"f4": "FloatStorage", "f8": "DoubleStorage", "f2": "HalfStorage"}
    tensors: OrderedDict[str, FakeTensor] = OrderedDict()
    for key, array in state_dict.items():
        type_name = type_names.get(array.dtype.str[1:], "LongStorage")
        contiguous = np.array(array, order="C")  # (ascontiguousarray would make 0-d arrays 1-d)
        strides = tuple(step // array.itemsize for step in contiguous.strides)
        tensors[key] = FakeTensor(
            FakeStorage(type_name, contiguous.reshape(-1)), 0, array.shape, strides
        )
    return tensors


def pickle_calling(module: str, name: str, argument: str) -> bytes:
    """A protocol-2 pickle that calls ``module.name(argument)`` when loaded (GLOBAL, REDUCE)."""
    encoded = argument.encode()
    return (
        b"\x80\x02c" + f"{module}\n{name}\n".encode()
        + b"X" + struct.pack("<I", len(encoded)) + encoded
        + b"\x85R."
    )  # fmt: skip


def trained_looking(weights: StateDict, seed: int) -> StateDict:
    """Seeded weights with non-trivial batch-norm statistics and GeM p.

    Seeded batch norms are identities and p is 3, so a graph that skipped a batch norm, swapped
    its mean and variance or ignored p would still match the reference; these values would not.
    """
    rng = np.random.default_rng(seed)
    changed = dict(weights)
    for key, value in weights.items():
        if key.endswith(".running_var"):
            changed[key] = rng.uniform(0.5, 2.0, value.shape).astype(np.float32)
        elif key.endswith((".running_mean", ".bias")) and key.startswith("backbone."):
            changed[key] = rng.normal(0.0, 0.1, value.shape).astype(np.float32)
        elif key.endswith(".weight") and value.ndim == 1:
            changed[key] = rng.uniform(0.5, 1.5, value.shape).astype(np.float32)
    changed["aggregation.1.p"] = np.array([2.5], np.float32)
    return changed

"""The unpickler for torch checkpoints: an allow-list of globals, none of them torch's own.

``torch.save`` writes a pickle, and unpickling can call any importable function. Here the only
names a checkpoint's pickle may import are those a state_dict is made of, each mapped to an
object of this module: torch's tensor constructors become functions that build numpy arrays
from the raw storage records, with offsets, sizes and strides checked first; torch's storage
types become markers carrying a dtype. Anything else stops the load before it is called.
Where the storages' bytes live differs between torch's two file formats, so the caller passes
a function that reads them (:mod:`geopin_tools.model.checkpoint`,
:mod:`geopin_tools.model.legacy_pth`).
"""

from __future__ import annotations

import pickle
import re
import struct
from collections import OrderedDict
from collections.abc import Callable, Mapping
from math import prod
from typing import IO, Any

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import as_strided

# torch's typed storages and the little-endian numpy dtype of their elements.
STORAGE_DTYPES: Mapping[str, np.dtype[Any]] = {
    "DoubleStorage": np.dtype("<f8"),
    "FloatStorage": np.dtype("<f4"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}
_STORAGE_KEY = re.compile(r"^[0-9]+$")
# What a malformed (not malicious: globals are already refused) pickle makes the unpickler raise.
_MALFORMED = (
    pickle.UnpicklingError,
    EOFError,
    TypeError,
    ValueError,
    IndexError,
    KeyError,
    AttributeError,
    struct.error,
    OverflowError,
    RecursionError,
)


class CheckpointError(ValueError):
    """The file is not a checkpoint GeoPin can read; the message says why, on one line."""


class UnsafeCheckpoint(CheckpointError):
    """The checkpoint's pickle names a global outside the allow-list; nothing of it was run."""


class _Sealed:
    """An object a pickle can reach but not change.

    BUILD changes an object through ``__setstate__``, its ``__dict__`` or ``setattr``: these
    have none of the first two and refuse the third. (A frozen slotted dataclass would not do:
    it gets a ``__setstate__`` that writes its fields.)
    """

    __slots__ = ()

    def __setattr__(self, name: str, value: object) -> None:
        raise CheckpointError("the checkpoint's pickle tried to modify the loader's objects")


class _StorageType(_Sealed):
    """Stands for ``torch.FloatStorage`` and the like inside a persistent id; not callable."""

    __slots__ = ("dtype", "name")
    name: str
    dtype: np.dtype[Any]

    def __init__(self, name: str, dtype: np.dtype[Any]) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "dtype", dtype)


class _TensorType(_Sealed):
    """Stands for ``torch.Tensor`` or ``torch.nn.Parameter`` as ``_rebuild_from_type_v2`` names."""

    __slots__ = ("name",)
    name: str

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "name", name)


class _Storage(_Sealed):
    """The elements of one ``data/<key>`` record."""

    __slots__ = ("values",)
    values: npt.NDArray[Any]

    def __init__(self, values: npt.NDArray[Any]) -> None:
        object.__setattr__(self, "values", values)


class _Constructor(_Sealed):
    """An allow-listed callable of this module, sealed so no checkpoint can swap what it calls."""

    __slots__ = ("function",)
    function: Callable[..., npt.NDArray[Any]]

    def __init__(self, function: Callable[..., npt.NDArray[Any]]) -> None:
        object.__setattr__(self, "function", function)

    def __call__(self, *args: object) -> npt.NDArray[Any]:
        return self.function(*args)


def _rebuild_tensor_v2(
    storage: object,
    storage_offset: object,
    size: object,
    stride: object,
    requires_grad: object,
    backward_hooks: object,
    metadata: object = None,
) -> npt.NDArray[Any]:
    """torch's tensor constructor, as numpy: a bounds-checked strided view, copied out.

    ``requires_grad``, the hooks and the metadata describe autograd, not values, so they are
    ignored; the bounds check is what makes ``as_strided`` safe on untrusted numbers.
    """
    if not isinstance(storage, _Storage):
        raise CheckpointError("a tensor's storage is not a checkpoint storage record")
    offset = _count(storage_offset, "storage offset")
    shape = _counts(size, "size")
    steps = _counts(stride, "stride")
    if len(shape) != len(steps):
        raise CheckpointError(f"tensor size {shape} and stride {steps} differ in length")
    available = storage.values.size
    if prod(shape) > available:  # a stride-0 "expanded" tensor would be copied out in full
        raise CheckpointError(f"tensor of size {shape} is larger than its storage of {available}")
    if all(shape):
        last = offset + sum((n - 1) * step for n, step in zip(shape, steps, strict=True))
        if last >= available:
            raise CheckpointError(
                f"tensor of size {shape}, stride {steps} at offset {offset} reaches element "
                f"{last} of a storage of {available}"
            )
    elif offset > available:
        raise CheckpointError(f"empty tensor at offset {offset} past a storage of {available}")
    itemsize = storage.values.itemsize
    view = as_strided(
        storage.values[offset:],
        shape=shape,
        strides=tuple(step * itemsize for step in steps),
        writeable=False,
    )
    return np.array(view, dtype=view.dtype.newbyteorder("="), order="C")


def _rebuild_parameter(
    data: object, requires_grad: object, backward_hooks: object
) -> npt.NDArray[Any]:
    """An ``nn.Parameter`` is its data for inference."""
    if not isinstance(data, np.ndarray):
        raise CheckpointError("a parameter's data is not a tensor")
    return data


def _rebuild_from_type_v2(
    func: object, new_type: object, args: object, state: object
) -> npt.NDArray[Any]:
    """How torch 1.13 wraps tensors: allowed only for plain tensors without Python state."""
    if not isinstance(new_type, _TensorType) or not isinstance(args, tuple):
        raise CheckpointError("a tensor subclass that GeoPin does not load")
    if state:
        raise CheckpointError(f"a {new_type.name} carries Python attributes GeoPin does not load")
    if func in (_REBUILD_TENSOR_V2, _REBUILD_PARAMETER):
        return func(*args)
    raise CheckpointError("a tensor rebuilt by a function GeoPin does not load")


_REBUILD_TENSOR_V2 = _Constructor(_rebuild_tensor_v2)
_REBUILD_PARAMETER = _Constructor(_rebuild_parameter)
_ALLOWED_GLOBALS: Mapping[tuple[str, str], object] = {
    ("collections", "OrderedDict"): OrderedDict,  # a C type: its attributes cannot be set
    ("torch._utils", "_rebuild_tensor_v2"): _REBUILD_TENSOR_V2,
    ("torch._utils", "_rebuild_parameter"): _REBUILD_PARAMETER,
    ("torch._tensor", "_rebuild_from_type_v2"): _Constructor(_rebuild_from_type_v2),
    ("torch", "Tensor"): _TensorType("torch.Tensor"),
    ("torch.nn.parameter", "Parameter"): _TensorType("torch.nn.Parameter"),
    **{("torch", name): _StorageType(name, dtype) for name, dtype in STORAGE_DTYPES.items()},
}


# Reads storage ``key`` given the dtype and element count its persistent id states; returns
# exactly that many elements or raises CheckpointError.
StorageReader = Callable[[str, np.dtype[Any], int], npt.NDArray[Any]]


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that can only build what a state_dict is made of.

    Storages come from ``read_storage`` as the pickle names them, each key read once.
    """

    def __init__(self, file: IO[bytes], read_storage: StorageReader) -> None:
        super().__init__(file, encoding="utf-8")
        self._read_storage = read_storage
        self._storages: dict[str, tuple[_StorageType, _Storage]] = {}

    def find_class(self, module_name: str, global_name: str, /) -> object:
        allowed = _ALLOWED_GLOBALS.get((module_name, global_name))
        if allowed is None:
            raise UnsafeCheckpoint(
                f"refusing to load: the checkpoint's pickle names {module_name}.{global_name}, "
                "which is not on GeoPin's allow-list (only a state_dict of tensors is read; "
                "save one with torch.save(model.state_dict(), path))"
            )
        return allowed

    def persistent_load(self, pid: Any, /) -> object:
        """A storage named by ``('storage', type, key, location, numel)``, read once per key.

        The legacy format adds a sixth field, the storage a view belongs to; torch has written
        None there since 1.0, and views of other storages are refused rather than resolved.
        """
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"):
            raise CheckpointError(f"unexpected persistent id {pid!r:.80}")
        if len(pid) == 6 and pid[5] is not None:
            raise CheckpointError("a storage view of another storage (torch < 1.0), not loaded")
        _, storage_type, key, _location, numel = pid[:5]
        if not isinstance(storage_type, _StorageType):
            raise CheckpointError(f"persistent id names {storage_type!r:.80}, not a storage type")
        if not (isinstance(key, str) and _STORAGE_KEY.match(key)):
            raise CheckpointError(f"storage key {key!r:.80} is not a record number")
        if key in self._storages:
            seen_type, storage = self._storages[key]
            if seen_type != storage_type:
                raise CheckpointError(
                    f"storage {key} is read as {seen_type.name} and {storage_type.name}"
                )
            return storage
        storage = _Storage(
            self._read_storage(key, storage_type.dtype, _count(numel, "storage size"))
        )
        self._storages[key] = (storage_type, storage)
        return storage


def _count(value: object, what: str) -> int:
    if type(value) is not int or value < 0:
        raise CheckpointError(f"tensor {what} {value!r:.40} is not a non-negative integer")
    return value


def _counts(values: object, what: str) -> tuple[int, ...]:
    if not isinstance(values, tuple):
        raise CheckpointError(f"tensor {what} {values!r:.40} is not a tuple")
    return tuple(_count(value, what) for value in values)


def unpickle(file: IO[bytes], read_storage: StorageReader, file_name: str, part: str) -> object:
    """The next pickle of ``file``; any failure is a one-line ``CheckpointError``."""
    return _load(RestrictedUnpickler(file, read_storage), file_name, part)


def survey_storages(file: IO[bytes], file_name: str) -> dict[str, tuple[np.dtype[Any], int]]:
    """Each storage key the next pickle of ``file`` names, with its dtype and element count.

    torch's legacy format writes the storages' bytes after the pickle, and walking them needs
    their element sizes, so those are learnt first by a pass that builds no tensor.
    """
    found: dict[str, tuple[np.dtype[Any], int]] = {}

    def record(key: str, dtype: np.dtype[Any], count: int) -> npt.NDArray[Any]:
        found[key] = (dtype, count)
        return np.empty(0, dtype)

    _load(_StorageSurvey(file, record), file_name, "tensor pickle")
    return found


class _StorageSurvey(RestrictedUnpickler):
    """The same allow-list, but every allow-listed function is a no-op: nothing is built, so
    the pass costs no memory however many tensors the pickle claims over its storages."""

    def find_class(self, module_name: str, global_name: str, /) -> object:
        allowed = super().find_class(module_name, global_name)
        return _IGNORED if isinstance(allowed, _Constructor) else allowed


_IGNORED = _Constructor(lambda *args: np.empty(0))


def _load(unpickler: RestrictedUnpickler, file_name: str, part: str) -> object:
    try:
        return unpickler.load()
    except CheckpointError:
        raise
    except _MALFORMED as exc:
        raise CheckpointError(f"{file_name} has a malformed {part}: {exc}") from exc

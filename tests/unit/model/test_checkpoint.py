"""Reading torch.save checkpoints: every tensor layout torch writes, and nothing pickled run."""

from __future__ import annotations

import hashlib
import pickle
import re
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from geopin_tools.model.checkpoint import CheckpointError, UnsafeCheckpoint, load_checkpoint

from tests.support.pth_writer import save_state_dict_pth
from tests.unit.model.factories import (
    FakeStorage,
    FakeTensor,
    fake_tensors,
    pickle_calling,
    save_like_torch,
    save_like_torch_legacy,
    write_checkpoint,
)


def _weights() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "conv.weight": rng.standard_normal((4, 3, 3, 3)).astype(np.float32),
        "linear.bias": rng.standard_normal(5),  # float64
        "half": rng.standard_normal((2, 3)).astype(np.float16),
        "bn.num_batches_tracked": np.array(7, dtype=np.int64),
    }


# torch.save's two formats: the zip one, and the legacy one of torch < 1.6.
BOTH_FORMATS = pytest.mark.parametrize(
    "save", [save_like_torch, save_like_torch_legacy], ids=["zip", "legacy"]
)


@BOTH_FORMATS
def test_a_checkpoint_saved_like_torch_loads_with_dtypes_shapes_and_values(
    tmp_path: Path, save: Callable[[Path, object], Path]
) -> None:
    weights = _weights()
    loaded = load_checkpoint(save(tmp_path / "w.pth", fake_tensors(weights)))
    assert list(loaded.state_dict) == list(weights)
    for key, expected in weights.items():
        actual = loaded.state_dict[key]
        assert (actual.dtype, actual.shape) == (expected.dtype, expected.shape), key
        np.testing.assert_array_equal(actual, expected)


@BOTH_FORMATS
def test_views_of_one_storage_load_at_their_offsets_and_strides(
    tmp_path: Path, save: Callable[[Path, object], Path]
) -> None:
    """Converted TensorFlow weights are saved so: permuted, not made contiguous."""
    base = np.arange(24, dtype=np.float32)
    storage = FakeStorage("FloatStorage", base)
    tensors = OrderedDict(
        whole=FakeTensor(storage, 0, (4, 6), (6, 1)),
        transposed=FakeTensor(storage, 2, (4, 3), (1, 4)),  # base[2:14].reshape(3, 4).T
        every_fifth=FakeTensor(storage, 0, (5,), (5,)),
        scalar=FakeTensor(storage, 23, (), ()),
    )
    loaded = load_checkpoint(save(tmp_path / "views.pth", tensors)).state_dict
    np.testing.assert_array_equal(loaded["whole"], base.reshape(4, 6))
    np.testing.assert_array_equal(loaded["transposed"], base[2:14].reshape(3, 4).T)
    np.testing.assert_array_equal(loaded["every_fifth"], base[::5])
    assert loaded["scalar"].shape == ()
    assert loaded["scalar"] == 23
    loaded["whole"][0, 0] = -1  # each tensor is its own writable copy
    assert loaded["every_fifth"][0] == 0


@pytest.mark.parametrize("wrapped", ["parameter", "from_type"])
def test_parameters_and_torch_1_13_tensor_wrappers_load_as_arrays(
    tmp_path: Path, wrapped: str
) -> None:
    storage = FakeStorage("FloatStorage", np.array([1.0, 2.0], np.float32))
    tensors = OrderedDict(p=FakeTensor(storage, 0, (2,), (1,), wrapped=wrapped))
    loaded = load_checkpoint(save_like_torch(tmp_path / "w.pth", tensors)).state_dict
    np.testing.assert_array_equal(loaded["p"], [1.0, 2.0])


def test_module_versions_that_model_state_dict_attaches_are_accepted(tmp_path: Path) -> None:
    tensors = fake_tensors(_weights())
    tensors._metadata = OrderedDict({"": {"version": 1}, "bn": {"version": 2}})  # type: ignore[attr-defined]
    loaded = load_checkpoint(save_like_torch(tmp_path / "w.pth", tensors)).state_dict
    assert list(loaded) == list(_weights())


@pytest.mark.parametrize("wrapper", ["model_state_dict", "state_dict"])
def test_training_checkpoints_yield_the_state_dict_they_wrap(tmp_path: Path, wrapper: str) -> None:
    checkpoint = {"epoch_num": 3, wrapper: fake_tensors(_weights()), "optimizer": {"lr": 1e-5}}
    loaded = load_checkpoint(save_like_torch(tmp_path / "last.pth", checkpoint)).state_dict
    assert list(loaded) == list(_weights())


def test_sha256_is_of_the_file_bytes(tmp_path: Path) -> None:
    path = tmp_path / "w.pth"
    save_state_dict_pth(_weights(), path)
    assert load_checkpoint(path).sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def _stack_global(module: str, name: str, argument: str) -> bytes:
    """Protocol 4's way to name a callable: two strings, then STACK_GLOBAL."""

    def short(text: str) -> bytes:
        return b"\x8c" + bytes([len(text)]) + text.encode()

    return b"\x80\x04" + short(module) + short(name) + b"\x93" + short(argument) + b"\x85R."


def _inst(module: str, name: str, argument: str) -> bytes:
    """Protocol 0's INST: MARK, the arguments, then ``i module\\nname\\n`` calls it."""
    return b"(V" + argument.encode() + b"\ni" + f"{module}\n{name}\n".encode() + b"."


@pytest.mark.parametrize(
    ("build", "module", "name", "code"),
    [
        pytest.param(pickle_calling, "os", "system", "touch {marker}", id="GLOBAL os.system"),
        pytest.param(
            _stack_global,
            "builtins",
            "eval",
            "open({marker!r}, 'w').close()",
            id="STACK_GLOBAL eval",
        ),
        pytest.param(_inst, "builtins", "exec", "open({marker!r}, 'w').close()", id="INST exec"),
    ],
)
def test_a_malicious_pickle_is_refused_without_running_it(
    tmp_path: Path, build: Callable[[str, str, str], bytes], module: str, name: str, code: str
) -> None:
    marker = tmp_path / "ran"
    payload = build(module, name, code.format(marker=str(marker)))
    pickle.loads(payload)  # noqa: S301 -- the stdlib unpickler runs it: the payload is live
    assert marker.exists()
    marker.unlink()
    path = write_checkpoint(tmp_path / "evil.pth", payload)
    with pytest.raises(UnsafeCheckpoint, match=re.escape(f"names {module}.{name}, which is not")):
        load_checkpoint(path)
    assert not marker.exists()


def test_a_lookalike_torch_global_is_refused(tmp_path: Path) -> None:
    path = write_checkpoint(tmp_path / "w.pth", pickle_calling("torch", "load", "x.pth"))
    with pytest.raises(UnsafeCheckpoint, match=r"torch\.load"):
        load_checkpoint(path)


def test_a_tensor_reaching_past_its_storage_is_refused(tmp_path: Path) -> None:
    storage = FakeStorage("FloatStorage", np.zeros(4, np.float32))
    tensors = OrderedDict(w=FakeTensor(storage, 1, (2, 2), (2, 1)))  # last element at 1 + 3 = 4
    with pytest.raises(CheckpointError, match="reaches element 4 of a storage of 4"):
        load_checkpoint(save_like_torch(tmp_path / "w.pth", tensors))


def test_a_tensor_larger_than_its_storage_is_refused(tmp_path: Path) -> None:
    """A stride-0 view could claim terabytes over one element; copying it out would."""
    storage = FakeStorage("FloatStorage", np.zeros(1, np.float32))
    tensors = OrderedDict(w=FakeTensor(storage, 0, (100_000, 100_000), (0, 0)))
    with pytest.raises(CheckpointError, match="larger than its storage of 1"):
        load_checkpoint(save_like_torch(tmp_path / "w.pth", tensors))


_CONSTRUCTOR = b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n"


@pytest.mark.parametrize(
    "build_state",
    [
        pytest.param(b"}X\x08\x00\x00\x00functionK\x01s", id="dict state"),
        pytest.param(
            b"N}X\x08\x00\x00\x00functionccollections\nOrderedDict\ns\x86",
            id="slot state",
        ),
        pytest.param(b"ccollections\nOrderedDict\n\x85", id="dataclass-style state"),
    ],
)
def test_a_pickle_cannot_modify_the_allow_listed_objects(
    tmp_path: Path, build_state: bytes
) -> None:
    path = write_checkpoint(tmp_path / "evil.pth", _CONSTRUCTOR + build_state + b"b.")
    with pytest.raises(CheckpointError):
        load_checkpoint(path)
    weights = {"w": np.arange(3, dtype=np.float32)}
    again = load_checkpoint(save_like_torch(tmp_path / "w.pth", fake_tensors(weights)))
    np.testing.assert_array_equal(again.state_dict["w"], weights["w"])


def test_a_storage_record_of_the_wrong_size_is_refused(tmp_path: Path) -> None:
    source = save_like_torch(tmp_path / "w.pth", fake_tensors({"w": np.zeros(4, np.float32)}))
    data_pkl = _record(source, "archive/data.pkl")
    path = write_checkpoint(tmp_path / "short.pth", data_pkl, {"0": b"\0" * 12})
    with pytest.raises(CheckpointError, match="record archive/data/0 holds 12 bytes, not 16"):
        load_checkpoint(path)


def _record(path: Path, name: str) -> bytes:
    with zipfile.ZipFile(path) as archive:
        return archive.read(name)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(b"<html>not found</html>", "not a torch.save checkpoint", id="not a zip"),
        pytest.param(b"PK\x03\x04" + b"\0" * 40, "damaged zip file", id="damaged zip"),
    ],
)
def test_files_that_are_not_checkpoints_are_refused(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "w.pth"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path)


def test_a_zip_without_data_pkl_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("model/weights.npy", b"")
    with pytest.raises(CheckpointError, match=r"a zip file but not a torch\.save checkpoint"):
        load_checkpoint(path)


def test_a_big_endian_checkpoint_is_refused(tmp_path: Path) -> None:
    path = write_checkpoint(tmp_path / "w.pth", pickle.dumps({}, protocol=2), byteorder=b"big")
    with pytest.raises(CheckpointError, match="saved b'big'-endian"):
        load_checkpoint(path)


def test_files_without_a_byteorder_record_are_read_little_endian(tmp_path: Path) -> None:
    """torch < 2.1 wrote no byteorder record, like the published CosPlace weights."""
    source = save_like_torch(tmp_path / "w.pth", fake_tensors({"w": np.arange(3.0)}))
    storages = {"0": _record(source, "archive/data/0")}
    path = write_checkpoint(
        tmp_path / "old.pth", _record(source, "archive/data.pkl"), storages, byteorder=None
    )
    np.testing.assert_array_equal(load_checkpoint(path).state_dict["w"], [0.0, 1.0, 2.0])


@pytest.mark.parametrize(
    ("data_pkl", "message"),
    [
        pytest.param(pickle.dumps([1, 2], protocol=2), "holds a list, not a state_dict", id="list"),
        pytest.param(
            pickle.dumps({"epoch": 1}, protocol=2),
            "not a state_dict of tensors (first keys: 'epoch')",
            id="dict without tensors",
        ),
        pytest.param(b"\x80\x02(K\x01", "malformed data.pkl", id="truncated pickle"),
        pytest.param(
            b"\x80\x02(X\x01\x00\x00\x00aK\x01tQ.",
            "unexpected persistent id",
            id="foreign persistent id",
        ),
    ],
)
def test_pickles_that_hold_no_state_dict_are_refused(
    tmp_path: Path, data_pkl: bytes, message: str
) -> None:
    with pytest.raises(CheckpointError, match=re.escape(message)):
        load_checkpoint(write_checkpoint(tmp_path / "w.pth", data_pkl))


def test_load_errors_are_value_errors_with_one_line_messages(tmp_path: Path) -> None:
    path = write_checkpoint(tmp_path / "w.pth", pickle_calling("os", "system", "true"))
    with pytest.raises(ValueError, match="allow-list") as raised:
        load_checkpoint(path)
    assert "\n" not in str(raised.value)

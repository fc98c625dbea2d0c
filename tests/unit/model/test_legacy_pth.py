"""Reading torch's legacy (non-zip) checkpoints: the same tensors, and nothing pickled run."""

from __future__ import annotations

import pickle
import re
import struct
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
from geopin_tools.model.checkpoint import CheckpointError, UnsafeCheckpoint, load_checkpoint
from geopin_tools.model.default_model import package_weights
from geopin_tools.model.efficientnet import check_lite0_layout

from tests.unit.model.factories import (
    LEGACY_HEADER,
    FakeStorage,
    FakeTensor,
    legacy_bytes,
    legacy_key,
    pickle_calling,
    torch_like_pickle,
)


def test_the_default_models_published_weights_load_as_efficientnet_lite0() -> None:
    loaded = load_checkpoint(package_weights())
    assert len(loaded.state_dict) == 296
    check_lite0_layout(loaded.state_dict)  # every key and shape, or UnknownLayout
    stem = loaded.state_dict["_conv_stem.weight"]
    assert stem.flags.c_contiguous  # saved with permuted strides, copied out in order


@pytest.mark.parametrize("part", ["object", "header"])
def test_a_malicious_legacy_pickle_is_refused_without_running_it(tmp_path: Path, part: str) -> None:
    marker = tmp_path / "ran"
    payload = pickle_calling("os", "system", f"touch {marker}")
    if part == "object":
        data = legacy_bytes(payload, {})
    else:  # the system facts, third of the header's pickles, replaced by the payload
        magic_and_protocol = LEGACY_HEADER[: LEGACY_HEADER.index(b".\x80\x02}") + 1]
        data = magic_and_protocol + payload + pickle.dumps([], protocol=2)
    path = tmp_path / "evil.pth"
    path.write_bytes(data)
    with pytest.raises(UnsafeCheckpoint, match=re.escape("names os.system, which is not")):
        load_checkpoint(path)
    assert not marker.exists()


def _one_tensor() -> tuple[bytes, dict[str, np.ndarray]]:
    values = np.arange(4, dtype=np.float32)
    tensors = OrderedDict(w=FakeTensor(FakeStorage("FloatStorage", values), 0, (4,), (1,)))
    return torch_like_pickle(tensors, legacy=True), {legacy_key(0): values}


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        pytest.param(lambda d: d[:-3], "ends inside storage", id="truncated storage"),
        pytest.param(lambda d: d + b"\0", "1 bytes after its storages", id="trailing bytes"),
        pytest.param(
            lambda d: d.replace(struct.pack("<q", 4), struct.pack("<q", 3)),
            "holds 3 elements, its tensors say 4",
            id="wrong element count",
        ),
    ],
)
def test_damaged_legacy_storages_are_refused_in_one_line(
    tmp_path: Path, damage: object, message: str
) -> None:
    data_pkl, storages = _one_tensor()
    path = tmp_path / "old.pth"
    path.write_bytes(damage(legacy_bytes(data_pkl, storages)))  # type: ignore[operator]
    with pytest.raises(CheckpointError, match=re.escape(message)) as raised:
        load_checkpoint(path)
    assert "\n" not in str(raised.value)


def test_a_key_list_that_does_not_match_the_tensors_is_refused(tmp_path: Path) -> None:
    data_pkl, storages = _one_tensor()
    path = tmp_path / "old.pth"
    path.write_bytes(legacy_bytes(data_pkl, {**storages, "7": np.zeros(1, np.float32)}))
    with pytest.raises(CheckpointError, match="storage key list does not match its tensors"):
        load_checkpoint(path)


def test_a_storage_view_of_torch_before_1_0_is_refused(tmp_path: Path) -> None:
    data_pkl, storages = _one_tensor()
    key = legacy_key(0).encode()
    view = b"X" + struct.pack("<I", len(key)) + key + b"K\x00K\x04\x87"  # (key, 0, 4)
    damaged = data_pkl.replace(b"K\x04N", b"K\x04" + view, 1)  # numel 4, then the view
    path = tmp_path / "old.pth"
    path.write_bytes(legacy_bytes(damaged, storages))
    with pytest.raises(CheckpointError, match="storage view of another storage"):
        load_checkpoint(path)


def test_a_legacy_file_cut_after_its_header_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "old.pth"
    path.write_bytes(LEGACY_HEADER[:30])
    with pytest.raises(CheckpointError, match="malformed header"):
        load_checkpoint(path)

"""Writing checkpoints as torch.save does, so CI can make official-layout files without torch."""

from __future__ import annotations

import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
from geopin_tools.model.architecture import Backbone, seeded_state_dict
from geopin_tools.model.checkpoint import load_checkpoint

from tests.support.pth_writer import save_state_dict_pth
from tests.unit.model.factories import FakeStorage, FakeTensor, fake_tensors, torch_like_pickle


def _records(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


@pytest.mark.parametrize("backbone", [Backbone.RESNET18, Backbone.RESNET50])
def test_data_pkl_is_what_cpython_pickles_for_torch_tensors(
    tmp_path: Path, backbone: Backbone
) -> None:
    weights = seeded_state_dict(backbone, 16, seed=0)
    path = tmp_path / "w.pth"
    save_state_dict_pth(weights, path)
    assert _records(path)["w/data.pkl"] == torch_like_pickle(fake_tensors(weights))


def test_more_than_a_thousand_entries_are_batched_and_memoised_as_cpython_does(
    tmp_path: Path,
) -> None:
    weights = {f"layer{i}.weight": np.full((i % 3 + 1,), i, np.float32) for i in range(2001)}
    path = tmp_path / "w.pth"
    save_state_dict_pth(weights, path)
    assert _records(path)["w/data.pkl"] == torch_like_pickle(fake_tensors(weights))


def test_views_of_one_array_share_one_storage_as_torch_views_do(tmp_path: Path) -> None:
    base = np.arange(24, dtype=np.float32)
    weights = {"whole": base.reshape(4, 6), "transposed": base[2:14].reshape(3, 4).T}
    path = tmp_path / "views.pth"
    save_state_dict_pth(weights, path)
    storage = FakeStorage("FloatStorage", base)
    expected = OrderedDict(
        whole=FakeTensor(storage, 0, (4, 6), (6, 1)),
        transposed=FakeTensor(storage, 2, (4, 3), (1, 4)),
    )
    records = _records(path)
    assert records["views/data.pkl"] == torch_like_pickle(expected)
    assert records["views/data/0"] == base.tobytes()
    assert "views/data/1" not in records


def test_records_follow_torch_2_5_names_order_and_64_byte_alignment(tmp_path: Path) -> None:
    path = tmp_path / "ResNet18_32_cosplace.pth"
    save_state_dict_pth({"a": np.zeros(3, np.float32), "b": np.ones((), np.int64)}, path)
    prefix = "ResNet18_32_cosplace/"  # torch names the archive folder after the file
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        assert [info.filename.removeprefix(prefix) for info in infos] == [
            "data.pkl",
            ".format_version",
            ".storage_alignment",
            "byteorder",
            "data/0",
            "data/1",
            "version",
            ".data/serialization_id",
        ]
        assert all(info.compress_type == zipfile.ZIP_STORED for info in infos)
        records = {info.filename.removeprefix(prefix): archive.read(info) for info in infos}
    assert records["byteorder"] == b"little"
    assert records["version"] == b"3\n"
    assert records[".storage_alignment"] == b"64"
    assert records[".data/serialization_id"].isdigit()
    assert len(records[".data/serialization_id"]) == 40
    raw = path.read_bytes()
    for info in infos:
        start = info.header_offset + 30 + len(info.filename) + len(info.extra)
        assert start % 64 == 0, info.filename
        assert raw[start : start + info.file_size] == records[info.filename.removeprefix(prefix)]


def test_the_loader_reads_back_exactly_what_the_writer_wrote(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    shared = rng.standard_normal(30)
    weights = {
        "f32": rng.standard_normal((2, 3, 4, 5)).astype(np.float32),
        "f16": rng.standard_normal(7).astype(np.float16),
        "i64": np.array(12, np.int64),
        "i32": np.arange(-3, 3, dtype=np.int32),
        "u8": np.arange(5, dtype=np.uint8),
        "bool": np.array([True, False]),
        "big_endian": np.arange(4, dtype=">f4"),
        "offset_view": shared[5:11].reshape(2, 3),
        "strided_view": shared[::3],
        "reversed": shared[::-1],  # torch has no negative strides: saved as a copy
    }
    path = tmp_path / "w.pth"
    save_state_dict_pth(weights, path)
    loaded = load_checkpoint(path).state_dict
    assert list(loaded) == list(weights)
    for key, expected in weights.items():
        assert loaded[key].dtype == expected.dtype.newbyteorder("="), key
        assert loaded[key].shape == expected.shape, key
        np.testing.assert_array_equal(loaded[key], expected, err_msg=key)


def test_the_same_weights_make_the_same_file(tmp_path: Path) -> None:
    weights = seeded_state_dict(Backbone.RESNET18, 8, seed=3)
    first, second = tmp_path / "a", tmp_path / "b"
    for folder in (first, second):
        folder.mkdir()
        save_state_dict_pth(weights, folder / "w.pth")
    assert (first / "w.pth").read_bytes() == (second / "w.pth").read_bytes()


@pytest.mark.parametrize("wrapper", ["model_state_dict", "state_dict"])
def test_a_wrapped_state_dict_is_written_as_torch_saves_a_dict(
    tmp_path: Path, wrapper: str
) -> None:
    weights = {"w": np.arange(3, dtype=np.float32)}
    path = tmp_path / "last.pth"
    save_state_dict_pth(weights, path, wrapper_key=wrapper)
    assert _records(path)["last/data.pkl"] == torch_like_pickle({wrapper: fake_tensors(weights)})
    np.testing.assert_array_equal(load_checkpoint(path).state_dict["w"], weights["w"])


def test_dtypes_torch_cannot_store_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no storage type for dtype complex64"):
        save_state_dict_pth({"w": np.zeros(2, np.complex64)}, tmp_path / "w.pth")

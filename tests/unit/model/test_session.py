from __future__ import annotations

import logging
from pathlib import Path

import pytest
from geopin.model.session import OnnxSession
from geopin.settings import ModelSettings
from geopin_tools.model.architecture import Backbone
from geopin_tools.model.seeded import write_seeded_model


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("model") / "model.onnx"
    write_seeded_model(path, Backbone.RESNET18, 32)
    return path


def test_default_providers_run_on_cpu_where_only_cpu_is_offered(
    model_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="geopin.model.session"):
        session = OnnxSession(ModelSettings(path=model_path))
    assert session.providers[0] == "CPUExecutionProvider"
    assert session.precision == "fp32"
    assert "on CPUExecutionProvider, fp32" in caplog.text


def test_fp16_without_a_gpu_warns_and_stays_fp32(
    model_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    session = OnnxSession(ModelSettings(path=model_path, fp16=True))
    assert session.precision == "fp32"
    assert "no GPU provider is available" in caplog.text

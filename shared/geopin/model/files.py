"""Which model file a worker loads: the configured one, else the default model's.

Workers never build a model. The toolchain (``geopin model default``) builds the default model
once into the cache folder, under a name derived from its identity, and records that name in
a pointer file beside it; a worker reads the pointer. So the runtime carries no model builder,
and a worker's start never waits on (or races another worker through) a build.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from geopin.settings import ModelSettings

POINTER = "default-model"


class ModelNotFound(FileNotFoundError):
    """No model file where the settings say; tells the user how to make one."""


def model_path(settings: ModelSettings) -> Path:
    """The configured model file, or the default model recorded in the cache folder."""
    path = settings.path
    if path is None:
        return default_model_path(settings.default_model_dir)
    if not path.is_file():  # configured but missing: an error, never a silent substitute
        raise ModelNotFound(
            f"model file {path} (GEOPIN_MODEL__PATH) not found: export one with "
            "`geopin model export`, or unset GEOPIN_MODEL__PATH for the default model"
        )
    return path


def default_model_path(cache_dir: Path) -> Path:
    try:
        name = (cache_dir / POINTER).read_text().strip()
    except FileNotFoundError:
        name = ""
    if not name or not (cache_dir / name).is_file():
        raise ModelNotFound(
            f"no default model in {cache_dir}: build it with `geopin model default` "
            "(scripts/up and `geopin up` do), or set GEOPIN_MODEL__PATH to a model file"
        )
    return cache_dir / name


def record_default_model(cache_dir: Path, path: Path) -> None:
    """Point the cache folder's default at ``path`` (a file inside it), atomically."""
    fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=f".{POINTER}.")
    with os.fdopen(fd, "w") as file:
        file.write(path.name + "\n")
    os.replace(tmp, cache_dir / POINTER)

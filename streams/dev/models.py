"""Model versions for tests and benchmarks: copies of the shipped model under other names.

>>> copy_version(Path("/tmp/m"), "v2")  # doctest: +SKIP
PosixPath('/tmp/m/v2')
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import orjson

SHIPPED = Path(__file__).resolve().parent.parent.parent / "models" / "v1"
"""The shipped model version."""


def copy_version(model_dir: Path, name: str, source: Path = SHIPPED, **manifest: Any) -> Path:
    """``<model_dir>/<name>``: a copy of ``source`` whose manifest names ``name`` (and
    says what ``manifest`` adds); the same model file, so it loads and scores alike."""
    target = model_dir / name
    shutil.copytree(source, target)
    path = target / "manifest.json"
    doc = orjson.loads(path.read_bytes())
    path.write_bytes(orjson.dumps({**doc, **manifest, "model_version": name}))
    return target

"""The package boundaries that docs/architecture.md states, checked on the source.

Every ``import`` in ``streams/`` (at any depth of a module, not those under
``if TYPE_CHECKING:``) is read with :mod:`ast`:

- packages import only packages of a lower layer, or their own;
- nothing below ``streams.dev`` imports it (production runs without the dev tools);
- confluent-kafka, faust and its transport are used only where the docs say, and so
  are the libraries wrapped behind one module (River, LightGBM, prometheus-client).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

STREAMS = Path(__file__).resolve().parent.parent / "streams"

LAYERS = {
    "streams": 0,  # the root package (its version), config and errors
    "config": 0,
    "errors": 0,
    "contract": 1,
    "model": 2,
    "kafka": 2,
    "monitoring": 3,
    "ops": 3,
    "scoring": 4,
    "feedback": 4,
    "lifecycle": 4,
    "views": 4,  # what users look at: top, the report; only the CLI and the dev tools use it
    "dev": 5,
    "cli": 6,
    "__main__": 7,
}
"""A module may import a package of a lower layer, or its own package."""

ONLY_IN = {
    "confluent_kafka": ("kafka/",),
    "faust": (
        "kafka/faust_transport.py",
        "kafka/faust_batch.py",
        "kafka/config.py",
        "feedback/app.py",
        "feedback/background.py",
        "feedback/tables.py",
    ),
    "mode": ("kafka/faust_transport.py", "feedback/app.py"),
    "aiokafka": ("kafka/faust_transport.py",),
    "river": ("monitoring/detectors.py", "monitoring/online_learner.py"),
    "lightgbm": ("model/", "dev/training.py"),
    "treelite": ("model/compiled.py",),
    "tl2cgen": ("model/compiled.py",),
    "prometheus_client": ("ops/", "dev/", "views/scrape.py"),  # scrape: the text parser
    "mlflow": ("lifecycle/mlflow_log.py",),
    "rocksdict": ("feedback/tables.py", "scoring/state_store.py"),
}
"""Third-party packages and the only places that import them."""


def _modules() -> list[Path]:
    return sorted(STREAMS.rglob("*.py"))


def _package(path: Path) -> str:
    """The layer key of a module: its subpackage, or its own name at the top level."""
    parts = path.relative_to(STREAMS).with_suffix("").parts
    if len(parts) == 1:
        return "streams" if parts[0] == "__init__" else parts[0]
    return parts[0]


def _runtime_imports(node: ast.AST) -> Iterator[str]:
    """Imported module names, skipping ``if TYPE_CHECKING:`` blocks (annotations only)."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        yield node.module
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and ast.unparse(child.test) == "TYPE_CHECKING":
            for orelse in child.orelse:
                yield from _runtime_imports(orelse)
            continue
        yield from _runtime_imports(child)


def _imports(path: Path) -> list[str]:
    return list(_runtime_imports(ast.parse(path.read_text(), str(path))))


def _target_package(module: str) -> str | None:
    """The layer key of an imported ``streams`` module (None for anything else)."""
    parts = module.split(".")
    if parts[0] != "streams":
        return None
    return parts[1] if len(parts) > 1 else "streams"


def layer_violations(path: Path, imports: list[str]) -> list[str]:
    """Imports of ``path`` that go up, or sideways into another package of its layer."""
    own = _package(path)
    out = []
    for module in imports:
        target = _target_package(module)
        if target is None or target == own:
            continue
        if LAYERS[target] >= LAYERS[own]:
            out.append(f"{path.relative_to(STREAMS)} imports {module}")
    return out


def third_party_violations(path: Path, imports: list[str]) -> list[str]:
    """Imports of a restricted third-party package outside the modules allowed to."""
    rel = path.relative_to(STREAMS).as_posix()
    out = []
    for module in imports:
        allowed = ONLY_IN.get(module.split(".")[0])
        if allowed is not None and not rel.startswith(allowed):
            out.append(f"{rel} imports {module}")
    return out


def test_every_package_has_a_layer() -> None:
    assert {_package(p) for p in _modules()} <= set(LAYERS)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.relative_to(STREAMS).as_posix())
def test_imports_go_down_the_layers(path: Path) -> None:
    assert layer_violations(path, _imports(path)) == []


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.relative_to(STREAMS).as_posix())
def test_wrapped_libraries_stay_behind_their_modules(path: Path) -> None:
    assert third_party_violations(path, _imports(path)) == []


def test_the_checks_catch_what_they_are_for() -> None:
    scoring = STREAMS / "scoring" / "pipeline.py"
    sneaky = ["confluent_kafka", "streams.dev.generator", "streams.feedback.join", "faust"]
    assert third_party_violations(scoring, sneaky) == [
        "scoring/pipeline.py imports confluent_kafka",
        "scoring/pipeline.py imports faust",
    ]
    assert layer_violations(scoring, sneaky) == [
        "scoring/pipeline.py imports streams.dev.generator",
        "scoring/pipeline.py imports streams.feedback.join",
    ]
    guarded = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import confluent_kafka\n"
    assert list(_runtime_imports(ast.parse(guarded))) == ["typing"]


@pytest.mark.parametrize(
    "path", sorted((STREAMS / "views").rglob("*.py")), ids=lambda p: p.relative_to(STREAMS).name
)
def test_views_use_kafka_through_its_public_functions(path: Path) -> None:
    assert [m for m in _imports(path) if m.startswith("streams.kafka.")] == []

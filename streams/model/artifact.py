"""Loading a versioned model artifact, checked against its manifest, and predicting.

A model lives in ``models/<version>/``: ``model.txt`` (LightGBM's own text format,
never pickle) or, for the online challenger (manifest ``model_kind: river_linear``),
``model.json`` (:mod:`streams.model.online`); ``manifest.json`` (see
``schemas/manifest.schema.json``) and ``check_sample.json`` (feature rows its compiled
trees are checked on).
``models/CURRENT`` names the version used when none is asked for.

Loading is explicit and fails fast (:class:`~streams.errors.ModelError`) when the
files are missing, the manifest is invalid, the file's hash differs, or the feature
order of model, manifest and code disagree.

>>> model = load_model(Path("models"))            # doctest: +SKIP
>>> model.predict(model.assembler.assemble(events))  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import orjson

from streams.contract.events import SCHEMA_VERSION
from streams.contract.schemas import validator
from streams.errors import ModelError
from streams.model.compiled import CompiledTrees, check_same_scores, compile_trees
from streams.model.features import (
    FeatureAssembler,
    FeatureSet,
    Matrix,
    feature_set,
)
from streams.model.online import KIND as LINEAR_KIND
from streams.model.online import LinearPredictor
from streams.model.treeshap import TreeShap, native_shap

log = logging.getLogger(__name__)

CURRENT_POINTER = "CURRENT"
CHECK_SAMPLE = "check_sample.json"


@dataclass(frozen=True)
class Model:
    """A loaded, checked model: its booster (None for a linear model), manifest and the
    matching feature assembler."""

    version: str
    booster: lgb.Booster | None
    manifest: dict[str, Any]
    assembler: FeatureAssembler
    compiled: CompiledTrees | None = None  # predictor=auto|compiled: the same trees, native
    linear: LinearPredictor | None = None  # model_kind river_linear: the online challenger
    shap: TreeShap | None = None  # with compiled trees: TreeSHAP's tables, native

    @property
    def features(self) -> FeatureSet:
        """Its inputs, in order (the manifest's): the event's own, maybe then computed ones."""
        return self.assembler.features

    @property
    def predictor(self) -> str:
        """What predicts: ``compiled`` (native trees), ``lightgbm`` or ``linear``."""
        if self.linear is not None:
            return "linear"
        return "lightgbm" if self.compiled is None else "compiled"

    def predict(self, X: Matrix) -> Matrix:
        """Fraud probability per row of an assembled batch."""
        if self.linear is not None:
            return self.linear.predict(X)
        if self.compiled is not None:
            return self.compiled.predict(X)
        if self.booster is None:
            raise ModelError(f"model {self.version} has nothing to predict with")
        out: Matrix = np.asarray(self.booster.predict(X, num_threads=1), dtype=np.float64)
        return out

    def contributions(self, X: Matrix) -> Matrix | None:
        """Per row, each feature's exact contribution to the raw score (TreeSHAP), then the
        base: a column per feature and one more, summing to the margin. None without trees."""
        if self.booster is None or self.linear is not None:
            return None
        if self.shap is not None:
            return self.shap.contributions(X)
        out: Matrix = np.asarray(
            self.booster.predict(X, pred_contrib=True, num_threads=1), dtype=np.float64
        )
        return out


def current_version(model_dir: Path) -> str:
    """The version named by ``<model_dir>/CURRENT``."""
    pointer = model_dir / CURRENT_POINTER
    try:
        version = pointer.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ModelError(f"no model pointer at {pointer}: {exc}") from exc
    if not version:  # e.g. read while an editor rewrites it (the registry writes it atomically)
        raise ModelError(f"the model pointer {pointer} is empty")
    return version


def read_manifest(path: Path) -> dict[str, Any]:
    """Read and schema-check a manifest file."""
    try:
        manifest: dict[str, Any] = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ModelError(f"cannot read model manifest {path}: {exc}") from exc
    errors = sorted(validator("manifest").iter_errors(manifest), key=str)
    if errors:
        raise ModelError(f"invalid manifest {path}: {errors[0].message} at {errors[0].json_path}")
    return manifest


def _check_features(manifest: dict[str, Any], version: str) -> FeatureSet:
    """The model's feature set, if the manifest's features are one the code knows."""
    declared = manifest["features"]
    try:
        features = feature_set([f["name"] for f in declared])
    except ValueError as exc:
        raise ModelError(f"model {version}: {exc}") from exc
    kinds = [(f["name"], f["kind"], f.get("source", "event")) for f in declared]
    if kinds != [(f.name, f.kind, f.source) for f in features.features]:
        raise ModelError(f"model {version}: manifest feature kinds {kinds} differ from the code's")
    if manifest["event_schema_version"] != SCHEMA_VERSION:
        raise ModelError(
            f"model {version} was trained for event schema "
            f"v{manifest['event_schema_version']}, this code reads v{SCHEMA_VERSION}"
        )
    return features


def load_model(
    model_dir: Path,
    version: str | None = None,
    compiled_dir: Path | None = None,
    compiled_required: bool = True,
) -> Model:
    """Load ``<model_dir>/<version>`` (default: CURRENT) and check it; raise ModelError.

    A linear model (manifest ``model_kind: river_linear``) predicts with numpy and is
    never compiled. For LightGBM, with ``compiled_dir``, the trees are also compiled to
    native code (cached there) and predict with it, once its scores are checked against LightGBM's
    (:mod:`streams.model.compiled`). If that fails, the load fails, or, when not
    ``compiled_required``, the model predicts with LightGBM (logged).
    """
    version = version or current_version(model_dir)
    base = model_dir / version
    manifest = read_manifest(base / "manifest.json")
    blob = _model_bytes(base / manifest["model_file"], manifest)
    features = _check_features(manifest, version)
    levels = {f["name"]: f.get("levels", []) for f in manifest["features"] if "levels" in f}
    assembler = FeatureAssembler(levels, features)
    if manifest.get("model_kind", "lightgbm") == LINEAR_KIND:
        linear = LinearPredictor.from_json(blob)
        if not linear.fits(features):
            raise ModelError(f"model {version}: its linear model uses features not in its manifest")
        return Model(version, None, manifest, assembler, linear=linear)
    booster = _booster(blob, base / manifest["model_file"], version, features)
    compiled = shap = None
    if compiled_dir is not None:
        shap = _native_shap(booster, base, compiled_dir, version)
        try:
            compiled = compile_trees(booster, manifest["model_sha256"], compiled_dir)
            check_same_scores(booster, compiled, read_check_sample(base))
        except ModelError as exc:
            if compiled_required:
                raise
            compiled = None  # LightGBM is the reference: same scores, slower
            log.warning(
                "compiled trees not used; predicting with LightGBM",
                extra={"version": version, "error": str(exc)},
            )
    return Model(version, booster, manifest, assembler, compiled, shap=shap)


def _native_shap(
    booster: lgb.Booster, base: Path, cache_dir: Path, version: str
) -> TreeShap | None:
    """TreeSHAP's native tables, checked (:mod:`streams.model.treeshap`); None, logged, if
    they cannot be: reason codes then come from LightGBM's ``pred_contrib``, slower."""
    try:
        return native_shap(booster, read_check_sample(base), cache_dir)
    except ModelError as exc:
        log.warning(
            "native TreeSHAP not used; reasons from LightGBM",
            extra={"version": version, "error": str(exc)},
        )
        return None


def _model_bytes(path: Path, manifest: dict[str, Any]) -> bytes:
    """The model file's bytes, if they are the ones the manifest's sha256 names."""
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read model file {path}: {exc}") from exc
    if hashlib.sha256(blob).hexdigest() != manifest["model_sha256"]:
        raise ModelError(f"model file {path} does not match the manifest's sha256")
    return blob


def _booster(blob: bytes, path: Path, version: str, features: FeatureSet) -> lgb.Booster:
    """LightGBM's booster of a model file, its features checked against the manifest's."""
    try:
        booster = lgb.Booster(model_str=blob.decode("utf-8"))
    except (lgb.basic.LightGBMError, UnicodeDecodeError) as exc:
        raise ModelError(f"LightGBM cannot load {path}: {exc}") from exc
    in_model = list(booster.feature_name())
    if in_model != features.names:
        raise ModelError(f"model {version}: model file features {in_model} differ from manifest")
    return booster


def read_check_sample(base: Path) -> Matrix:
    """The feature rows stored with a model (``check_sample.json``, null for missing)
    on which its compiled trees must score as LightGBM does."""
    path = base / CHECK_SAMPLE
    try:
        rows = orjson.loads(path.read_bytes())
        return np.array(rows, dtype=np.float64)  # null -> nan
    except (OSError, orjson.JSONDecodeError, ValueError, TypeError) as exc:
        raise ModelError(f"cannot read the compiled-tree check sample {path}: {exc}") from exc

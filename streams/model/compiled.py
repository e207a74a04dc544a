"""A LightGBM model's trees compiled to native code (treelite + tl2cgen): same scores, faster.

``predictor = "auto"`` (the default) or ``"compiled"`` (a setting): at model load,
treelite reads the booster, tl2cgen generates C for its trees and the system C
compiler (``gcc``) builds a shared library, cached under ``compiled_model_dir`` by the
model file's sha256 and the tl2cgen version, so a restart or a second scorer reuses
it. Before it is used, its scores on the model's check sample (``check_sample.json``,
plus a copy with a quarter of the values missing) must equal LightGBM's to 1e-6; if not, or if it
cannot be built, loading fails (``compiled``) or the model predicts with LightGBM
(``auto``, logged).

Measured by ``bench/hotpath.py`` (batches of 1,000, one process): predicting takes
about a third of LightGBM's time, with identical scores; compiling takes a few seconds, once
per model.

This module is the one place that knows treelite's and tl2cgen's APIs (they moved
between versions: code generation left treelite for tl2cgen in treelite 4).

>>> trees = compile_trees(booster, "3f2a...", Path("var/compiled"))   # doctest: +SKIP
>>> trees.predict(X)                                                   # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import time
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np

from streams.errors import ModelError
from streams.model.features import Matrix

TOLERANCE = 1e-6
STALE_PARTIAL_S = 3600.0  # a compile takes 3-5 s; a partial this old was cut off


class CompiledTrees:
    """A compiled model's predictor: probabilities for rows of an assembled batch."""

    def __init__(self, predictor: Any, dmatrix: Any, library: Path) -> None:
        self._predictor = predictor  # owns the loaded library; frees it when collected
        self._dmatrix = dmatrix
        self.library = library
        self._direct = DirectCall.bind(predictor)

    def predict(self, X: Matrix) -> Matrix:
        """Fraud probability per row (LightGBM's ``predict`` of a binary model)."""
        if self._direct is not None:
            return self._direct.predict(X)
        out = self._predictor.predict(self._dmatrix(X, dtype="float64"))
        return np.asarray(out, dtype=np.float64).reshape(len(X))


class DirectCall:
    """tl2cgen's batch prediction through its C API, called with plain addresses.

    Why not ``Predictor.predict``: it passes arrays with numpy's ``ctypes.data_as`` and
    ``as_array``, which leave 8 objects in reference cycles per call. At 5,000 events/s
    the scorer predicts ~1,000 times a second: ~5,000 ctypes objects a second for its
    between-batch garbage collection to free while it holds the GIL (and the committer
    thread waits). Called with addresses, a prediction leaves no garbage and costs
    ~9 µs less.

    The C API (``c_api.h``) is tl2cgen's documented interface, and the library is the
    one its Python package loaded (``<package>/lib``, where a wheel installs it: the
    same path, so the same loaded library). Used only for models of one output per row
    in float64; anything else, or the library elsewhere, keeps ``Predictor.predict``.
    """

    def __init__(self, lib: ctypes.CDLL, predictor_handle: int) -> None:
        self._lib = lib
        self._predictor = predictor_handle
        self._missing = np.array([np.nan])  # missing values are NaN, as in tl2cgen's DMatrix

    @classmethod
    def bind(cls, predictor: Any) -> DirectCall | None:
        """The direct call for a loaded ``tl2cgen.Predictor``, or None where it does not apply."""
        import tl2cgen

        libs = list((Path(tl2cgen.__file__).parent / "lib").glob("*tl2cgen*"))
        if len(libs) != 1 or predictor.leaf_output_type != "float64" or not predictor.handle:
            return None
        lib = ctypes.CDLL(str(libs[0]))
        lib.TL2cgenDMatrixCreateFromMat.argtypes = [
            ctypes.c_void_p,
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_size_t,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        lib.TL2cgenDMatrixFree.argtypes = [ctypes.c_void_p]
        lib.TL2cgenPredictorPredictBatch.argtypes = [
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_void_p,
        ]
        lib.TL2cgenGetLastError.restype = ctypes.c_char_p
        one_row = np.zeros((1, predictor.num_feature))
        if predictor.predict(tl2cgen.DMatrix(one_row, dtype="float64")).size != 1:
            return None  # more than one output per row (multi-class, multi-target)
        return cls(lib, predictor.handle.value)

    def predict(self, X: Matrix) -> Matrix:
        """Like ``Predictor.predict`` of a ``DMatrix`` of ``X``, one value per row."""
        X = np.ascontiguousarray(X, dtype=np.float64)
        out = np.zeros(len(X))  # zeros: tl2cgen adds the trees' outputs into it
        dmatrix = ctypes.c_void_p()
        self._check(
            self._lib.TL2cgenDMatrixCreateFromMat(
                X.ctypes.data,
                b"float64",
                X.shape[0],
                X.shape[1],
                self._missing.ctypes.data,
                ctypes.byref(dmatrix),
            )
        )
        try:  # the predictor's handle: tl2cgen's Predictor keeps it alive (CompiledTrees)
            self._check(
                self._lib.TL2cgenPredictorPredictBatch(
                    self._predictor, dmatrix, 0, 0, out.ctypes.data
                )
            )
        finally:
            self._lib.TL2cgenDMatrixFree(dmatrix)
        return out

    def _check(self, code: int) -> None:
        if code != 0:
            error = self._lib.TL2cgenGetLastError().decode(errors="replace")
            raise ModelError(f"compiled trees failed to predict: {error}")


def compile_trees(booster: lgb.Booster, sha256: str, cache_dir: Path) -> CompiledTrees:
    """The compiled trees of ``booster``, built once per model file and tl2cgen version."""
    try:
        import tl2cgen
        import treelite
    except ImportError as exc:
        raise ModelError(
            "compiled trees need treelite and tl2cgen (streamscore's dependencies): "
            "pip install 'treelite==4.1.2' 'tl2cgen>=1.0,<1.1'"
        ) from exc
    library = cache_dir / f"{sha256[:16]}-tl2cgen{tl2cgen.__version__}-{platform.machine()}.so"
    if not library.exists():
        remove_stale_partials(cache_dir)
        partial = library.with_name(f".{os.getpid()}.{library.name}")  # tl2cgen wants .so
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
            trees = treelite.frontend.from_lightgbm(booster)
            tl2cgen.export_lib(trees, toolchain="gcc", libpath=str(partial), nthread=1)
        except Exception as exc:  # treelite/tl2cgen raise their own errors, gcc failures too
            with contextlib.suppress(OSError):  # e.g. the cache "dir" is a file
                partial.unlink(missing_ok=True)
            raise ModelError(f"cannot compile the trees (is gcc installed?): {exc}") from exc
        os.replace(partial, library)  # atomic: another scorer never loads half a file
    try:
        predictor = tl2cgen.Predictor(str(library), nthread=1)
    except Exception as exc:
        raise ModelError(f"cannot load compiled trees {library}: {exc}") from exc
    return CompiledTrees(predictor, tl2cgen.DMatrix, library)


def remove_stale_partials(cache_dir: Path, older_than_s: float = STALE_PARTIAL_S) -> list[Path]:
    """Delete the half-built libraries (``.<pid>.<name>.so``) of compiles that were cut
    off (a scorer stopped or killed mid-compile: reloads compile in a daemon thread);
    the paths deleted. Only old ones: a compile takes seconds, and another scorer
    sharing the cache (in another container, so its pid says nothing here) may be
    building one now.
    """
    cutoff = time.time() - older_than_s
    removed = []
    for path in cache_dir.glob(".*.so"):
        with contextlib.suppress(OSError):  # gone meanwhile, or not ours to delete
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed.append(path)
    return removed


def check_same_scores(booster: lgb.Booster, trees: CompiledTrees, X: Matrix) -> float:
    """Raise ModelError unless ``trees`` scores ``X`` (and ``X`` with values missing) as
    LightGBM does, to :data:`TOLERANCE`; the largest difference."""
    both = with_holes(X)
    expected = np.asarray(booster.predict(both, num_threads=1), dtype=np.float64)
    diff = float(np.max(np.abs(trees.predict(both) - expected)))
    if not diff <= TOLERANCE:  # also false for NaN
        raise ModelError(f"compiled trees differ from LightGBM by {diff} (> {TOLERANCE})")
    return diff


def with_holes(X: Matrix) -> Matrix:
    """``X`` and below it a copy with a quarter of its values missing (seeded): the rows a
    native path is checked on against LightGBM."""
    holes = X.copy()
    holes[np.random.default_rng(0).random(X.shape) < 0.25] = np.nan
    return np.vstack([X, holes])

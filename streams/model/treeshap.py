"""Exact TreeSHAP for a LightGBM model, from tables built at load (Fast TreeSHAP v2).

LightGBM's ``pred_contrib`` walks every path of every tree for each row (~170 µs a row
for the default model). The same values, exactly: a leaf's part of a feature's
contribution depends on the row only through which of its path's features the row
follows (a bit each), so each leaf keeps a table of its contributions for every such
pattern (2^d rows for d distinct features on its path), built once in numpy. Explaining
a row is then each split's way, each leaf's pattern and a lookup, in a small C kernel
(``treeshap.c``, compiled with ``gcc`` into the compiled-model cache, as the trees are).

The path-dependent value (LightGBM's, Lundberg et al.'s TreeSHAP) of a leaf with value
``v`` and path features ``F`` (``z_k``: the share of training rows following the path
at ``k``'s splits, ``o_k``: 1 if the row does) is ``v * prod(o_k if k in S else z_k)``;
its Shapley value for ``i`` is ``(o_i - z_i) * v * sum over S in O-{i} of
|S|!(d-|S|-1)!/d! * prod(z_k, k in F-S-{i})`` (``O``: the features the row follows).

:func:`native_shap` checks the tables against ``pred_contrib`` on the model's check
sample before they are used; models with a path of more than
:data:`MAX_PATH_FEATURES` distinct features, or without ``gcc``, keep ``pred_contrib``.

>>> shap = native_shap(booster, check_rows, Path("var/compiled"))   # doctest: +SKIP
>>> shap.contributions(X)                                            # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import platform
import subprocess
from dataclasses import dataclass, field
from math import factorial
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np

from streams.errors import ModelError
from streams.model.compiled import with_holes
from streams.model.features import Matrix

MAX_PATH_FEATURES = 12  # a leaf's table: 2^12 x 12 floats at most (384 KiB)
TOLERANCE = 1e-9  # against pred_contrib: only the order of the additions differs
CHECK_ROWS = 500  # of the check sample, twice (with holes): ~0.2 s of pred_contrib per load
_MISSING = {"None": 0, "Zero": 1, "NaN": 2}


@dataclass
class _Splits:
    """Every internal node of every tree, flattened: what deciding a row needs."""

    feature: list[int] = field(default_factory=list)
    threshold: list[float] = field(default_factory=list)
    default_left: list[bool] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)
    categories: list[frozenset[int] | None] = field(default_factory=list)


@dataclass
class _Leaves:
    """Per leaf, its path's distinct features; per such slot, the splits it needs."""

    slot_feature: list[int] = field(default_factory=list)  # per slot
    slot_start: list[int] = field(default_factory=list)  # per leaf: its first slot
    cond_node: list[int] = field(default_factory=list)  # per condition: its split
    cond_left: list[bool] = field(default_factory=list)  # ... and the path's way
    cond_start: list[int] = field(default_factory=list)  # per slot: its first condition
    tables: list[Matrix] = field(default_factory=list)  # per leaf: 2^d x d
    base: float = 0.0


def build(booster: lgb.Booster, library: Path) -> TreeShap | None:
    """The tables of ``booster``'s trees read by the kernel ``library`` (:func:`kernel`),
    or None (paths too long, or not a single-output model of plain trees)."""
    dump = booster.dump_model()
    if dump.get("num_tree_per_iteration", 1) != 1 or dump.get("average_output"):
        return None
    splits, leaves = _Splits(), _Leaves()
    for info in dump["tree_info"]:
        root = info["tree_structure"]
        if "leaf_value" in root:  # a tree of one leaf: all base
            leaves.base += float(root["leaf_value"])
            continue
        if not _walk(root, float(root["internal_count"]), [], splits, leaves):
            return None
    return TreeShap(dump["max_feature_idx"] + 1, splits, leaves, library)


def _walk(
    node: dict[str, Any],
    total: float,
    path: list[tuple[int, bool, float]],
    splits: _Splits,
    leaves: _Leaves,
) -> bool:
    """Add the leaves under ``node``; ``path``: (split, went left, share) from the root."""
    if "leaf_value" in node:
        return _add_leaf(
            float(node["leaf_value"]), float(node["leaf_count"]) / total, path, splits, leaves
        )
    k = len(splits.feature)
    splits.feature.append(int(node["split_feature"]))
    splits.default_left.append(bool(node["default_left"]))
    splits.missing.append(_MISSING[node["missing_type"]])
    if node["decision_type"] == "==":
        splits.threshold.append(0.0)
        splits.categories.append(frozenset(int(c) for c in str(node["threshold"]).split("||")))
    else:
        splits.threshold.append(float(node["threshold"]))
        splits.categories.append(None)
    count = float(node["internal_count"])
    for child, left in ((node["left_child"], True), (node["right_child"], False)):
        share = _count(child) / count
        if not _walk(child, total, [*path, (k, left, share)], splits, leaves):
            return False
    return True


def _count(node: dict[str, Any]) -> float:
    return float(node["leaf_count"] if "leaf_value" in node else node["internal_count"])


def _add_leaf(
    value: float,
    cover: float,
    path: list[tuple[int, bool, float]],
    splits: _Splits,
    leaves: _Leaves,
) -> bool:
    by_feature: dict[int, list[tuple[int, bool, float]]] = {}
    for step in path:
        by_feature.setdefault(splits.feature[step[0]], []).append(step)
    if len(by_feature) > MAX_PATH_FEATURES:
        return False
    leaves.slot_start.append(len(leaves.slot_feature))
    zs = []
    for feature, steps in by_feature.items():
        leaves.slot_feature.append(feature)
        leaves.cond_start.append(len(leaves.cond_node))
        zs.append(float(np.prod([share for _, _, share in steps])))
        for k, left, _ in steps:
            leaves.cond_node.append(k)
            leaves.cond_left.append(left)
    leaves.tables.append(leaf_table(value, np.array(zs)))
    leaves.base += value * cover
    return True


def leaf_table(value: float, z: Matrix) -> Matrix:
    """A leaf's contributions for every pattern of followed features (row: the pattern's
    bits, column: the path's feature).

    >>> leaf_table(2.0, np.array([0.5])).tolist()  # not followed: -1, followed: +1
    [[-1.0], [1.0]]
    """
    d = len(z)
    masks = np.arange(1 << d)
    bits = (masks[:, None] >> np.arange(d)) & 1  # 2^d x d
    # per subset A of the path's features: prod(z, A), and the coefficients of
    # prod(1 + z_k x, k in A), the elementary symmetric polynomials of z over A
    zprod = np.prod(np.where(bits == 1, z, 1.0), axis=1)
    poly = np.zeros((1 << d, d + 1))
    poly[:, 0] = 1.0
    for k in range(d):
        has = bits[:, k] == 1
        poly[has, 1:] += z[k] * poly[has, :-1].copy()
    size = bits.sum(axis=1)
    weight = np.array([factorial(s) * factorial(d - s - 1) / factorial(d) for s in range(d)])
    # G(A) = sum over S in A of w(|S|) * prod(z, A - S) = sum_m e_m(A) * w(|A| - m)
    m = np.arange(d + 1)
    lag = size[:, None] - m[None, :]
    w = np.where((lag >= 0) & (lag < d), weight[np.clip(lag, 0, d - 1)], 0.0)
    g = (poly * w).sum(axis=1)
    full = (1 << d) - 1
    out = np.empty((1 << d, d))
    for i in range(d):
        bit = 1 << i
        followed = masks & ~bit  # O - {i}
        others = full & ~masks & ~bit  # F - O - {i}
        out[:, i] = (bits[:, i] - z[i]) * value * zprod[others] * g[followed]
    return out


class _Tables(ctypes.Structure):
    """``Tables`` of ``treeshap.c``: the addresses of :class:`TreeShap`'s arrays."""

    _fields_ = [
        ("n_splits", ctypes.c_int64),
        ("feature", ctypes.c_void_p),
        ("threshold", ctypes.c_void_p),
        ("default_left", ctypes.c_void_p),
        ("missing", ctypes.c_void_p),
        ("cat_row", ctypes.c_void_p),
        ("cat_width", ctypes.c_int64),
        ("cat_sets", ctypes.c_void_p),
        ("n_leaves", ctypes.c_int64),
        ("slot_start", ctypes.c_void_p),
        ("slot_feature", ctypes.c_void_p),
        ("cond_start", ctypes.c_void_p),
        ("cond_node", ctypes.c_void_p),
        ("cond_left", ctypes.c_void_p),
        ("table_offset", ctypes.c_void_p),
        ("table", ctypes.c_void_p),
        ("n_features", ctypes.c_int64),
        ("base", ctypes.c_double),
    ]


class TreeShap:
    """A model's TreeSHAP tables and the kernel that reads them: :meth:`contributions`,
    as ``pred_contrib`` gives them."""

    def __init__(self, features: int, splits: _Splits, leaves: _Leaves, library: Path) -> None:
        self.features = features
        i32, u8 = np.int32, np.uint8
        cats = [c for c in splits.categories if c is not None]
        width = 1 + max((max(c) for c in cats if c), default=0)
        cat_sets = np.zeros((len(cats), width), dtype=u8)
        cat_row = np.full(len(splits.feature), -1, dtype=i32)
        row = 0
        for k, c in enumerate(splits.categories):
            if c is not None:
                cat_row[k], row = row, row + 1
                cat_sets[cat_row[k], sorted(c)] = 1
        sizes = [t.size for t in leaves.tables]
        self._arrays: dict[str, np.ndarray[Any, Any]] = {  # the kernel reads them by address
            "feature": np.array(splits.feature, dtype=i32),
            "threshold": np.array(splits.threshold, dtype=np.float64),
            "default_left": np.array(splits.default_left, dtype=u8),
            "missing": np.array(splits.missing, dtype=u8),
            "cat_row": cat_row,
            "cat_sets": cat_sets,
            "slot_start": np.array([*leaves.slot_start, len(leaves.slot_feature)], dtype=i32),
            "slot_feature": np.array(leaves.slot_feature, dtype=i32),
            "cond_start": np.array([*leaves.cond_start, len(leaves.cond_node)], dtype=i32),
            "cond_node": np.array(leaves.cond_node, dtype=i32),
            "cond_left": np.array(leaves.cond_left, dtype=u8),
            "table_offset": np.cumsum([0, *sizes[:-1]], dtype=np.int64),
            "table": np.concatenate([t.ravel() for t in leaves.tables] or [np.zeros(0)]),
        }
        a = {name: arr.ctypes.data for name, arr in self._arrays.items()}
        self._tables = _Tables(
            n_splits=len(splits.feature),
            cat_width=width,
            n_leaves=len(leaves.tables),
            n_features=features,
            base=leaves.base,
            **a,
        )
        self._rows = ctypes.CDLL(str(library)).treeshap_rows
        self._rows.restype = None
        self._rows.argtypes = [
            ctypes.c_void_p,
            ctypes.c_int64,
            ctypes.c_int64,
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]

    def contributions(self, X: Matrix) -> Matrix:
        """Per row, each feature's contribution to the raw score, then the base."""
        X = np.ascontiguousarray(X, dtype=np.float64)
        out = np.empty((len(X), self.features + 1))
        left = np.empty((len(X), self._tables.n_splits), dtype=np.uint8)  # the kernel's scratch
        table, n, stride = ctypes.addressof(self._tables), len(X), X.shape[1]
        self._rows(table, n, stride, X.ctypes.data, out.ctypes.data, left.ctypes.data)
        return out


def kernel(cache_dir: Path) -> Path:
    """``treeshap.c`` compiled with ``gcc`` into ``cache_dir`` (once per source), its path;
    ModelError if it cannot be."""
    source = Path(__file__).with_name("treeshap.c")
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    library = cache_dir / f"treeshap-{digest}-{platform.machine()}.so"
    if library.exists():
        return library
    partial = library.with_name(f".{os.getpid()}.{library.name}")
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        command = ["gcc", "-O2", "-shared", "-fPIC", "-o", str(partial), str(source), "-lm"]
        subprocess.run(command, check=True, capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        with contextlib.suppress(OSError):  # e.g. the cache "dir" is a file
            partial.unlink(missing_ok=True)
        raise ModelError(f"cannot compile TreeSHAP's kernel (is gcc installed?): {exc}") from exc
    os.replace(partial, library)  # atomic: another scorer never loads half a file
    return library


def native_shap(booster: lgb.Booster, check: Matrix, cache_dir: Path) -> TreeShap:
    """:func:`build`'s tables with the compiled kernel, once their contributions on the
    first :data:`CHECK_ROWS` of ``check`` (and on them with a quarter of the values
    missing) equal LightGBM's ``pred_contrib`` to :data:`TOLERANCE`; ModelError otherwise."""
    try:
        shap = build(booster, kernel(cache_dir))
    except OSError as exc:  # the library would not load
        raise ModelError(f"cannot load TreeSHAP's kernel: {exc}") from exc
    if shap is None:
        raise ModelError(
            f"no TreeSHAP tables for this model (a path over {MAX_PATH_FEATURES} features)"
        )
    both = with_holes(check[:CHECK_ROWS])
    want = np.asarray(booster.predict(both, pred_contrib=True, num_threads=1), np.float64)
    diff = float(np.max(np.abs(shap.contributions(both) - want)))
    if not diff <= TOLERANCE:  # also false for NaN
        raise ModelError(f"TreeSHAP tables differ from LightGBM's pred_contrib by {diff}")
    return shap

"""The scorer's hot path without a broker: each lever measured against its alternative.

    .venv/bin/python -m bench.hotpath            # ~1 minute; writes bench/results/hotpath.json

Same generated events (5% invalid) for every measurement, in one process; each
number is the best of a few repeats, in µs per event, so ratios between rows are
what to read. Levers:

- validation: the exact path (orjson and checks in Python), the msgspec fast path the
  scorer uses, JSON Schema with ``jsonschema`` (Python) and ``jsonschema-rs``, and
  pydantic-core (strict); the last two only if installed (``pip install -e '.[bench]'``);
  and events with three extra fields (the exact path's), its checks in Python against
  the conversion the scorer uses;
- score encoding: dict + orjson against a msgspec Struct;
- record objects: frozen dataclass, NamedTuple and msgspec Struct;
- prediction: LightGBM against the trees compiled by :mod:`streams.model.compiled`
  (if installed; it also
  checks the scores agree to 1e-6);
- the pure pipeline per stage at several batch sizes, with Python's automatic GC
  and with the scorer's (frozen start-up objects, collection between batches).
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, NamedTuple

import numpy as np
import orjson

from streams.config import Settings
from streams.contract.events import FIELDS
from streams.contract.records import InRecord, Origin
from streams.contract.schemas import validator
from streams.contract.validation import parse_event
from streams.contract.wire import decode_events, fast_rows, row_of
from streams.dev.generator import GeneratorConfig, generate
from streams.dev.messy import MessySpec
from streams.errors import ModelError
from streams.model.artifact import Model, load_model
from streams.model.compiled import compile_trees
from streams.model.features import FEATURE_NAMES
from streams.model.velocity import AccountFeatures, VelocityConfig
from streams.monitoring.drift import DriftConfig, DriftMonitor
from streams.ops.gc_control import Collector
from streams.scoring.pipeline import PipelineConfig, ScoringPipeline
from streams.scoring.score_records import encode_scores, feature_values

ROOT = Path(__file__).resolve().parent.parent


def best_us(fn: Callable[[], object], n: int, repeats: int = 3) -> float:
    """Best of ``repeats`` runs of ``fn``, in µs per each of ``n`` items."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return round(best / n * 1e6, 3)


def events(count: int) -> list[bytes]:
    """Generated event payloads, 5% made invalid in the generator's ways."""
    config = GeneratorConfig(seed=99, count=count, messy=MessySpec(0.05))
    return [r.value or b"" for r in generate(config) if r.topic == "events"]


def validation(raws: list[bytes]) -> dict[str, float]:
    """µs per event to parse and validate, by method."""
    out = {
        "exact path: orjson + Python checks": best_us(
            lambda: [parse_event(r) for r in raws], len(raws)
        ),
        "msgspec fast path (used)": best_us(lambda: decode_events(raws), len(raws)),
    }
    # upstream added fields: the fast path cannot prove them, so the exact path takes them
    extra = [r[:-1] + b',"source":"web","trace_id":"t-1","schema_version":2}' for r in raws]
    out["3 extra fields: fast path, else parse_event and row_of"] = best_us(
        lambda: _unconverted(extra), len(raws)
    )
    out["3 extra fields: fast path, else converted (used)"] = best_us(
        lambda: decode_events(extra), len(raws)
    )
    schema = validator("event")
    few = raws[:2000]
    out["jsonschema (Python)"] = best_us(
        lambda: [_schema_check(schema.is_valid, r) for r in few], len(few), 1
    )
    try:
        import jsonschema_rs

        rs = jsonschema_rs.validator_for(schema.schema)
        out["jsonschema-rs (valid or not, nothing else)"] = best_us(
            lambda: [_schema_check(rs.is_valid, r) for r in raws], len(raws)
        )
        out["jsonschema-rs as the scorer would need it (row; exact path for reasons)"] = best_us(
            lambda: [_schema_row(rs.is_valid, r) for r in raws], len(raws)
        )
    except ImportError:
        pass
    adapter = _pydantic_model()
    out["pydantic-core (strict)"] = best_us(
        lambda: [_pydantic(adapter, r) for r in raws], len(raws)
    )
    return out


def _unconverted(raws: list[bytes]) -> list[object]:
    # the exact path with its checks in Python: parse_event's dict, then its row
    rows: list[object] = list(fast_rows(raws))
    for i in [i for i, row in enumerate(rows) if row is None]:
        event = parse_event(raws[i])
        rows[i] = row_of(event) if isinstance(event, dict) else event
    return rows


def _schema_check(is_valid: Callable[[Any], bool], raw: bytes) -> bool:
    # a schema validator is given the parsed object, so parsing is part of its cost
    try:
        return is_valid(orjson.loads(raw))
    except orjson.JSONDecodeError:
        return False


def _schema_row(is_valid: Callable[[Any], bool], raw: bytes) -> object:
    # what a jsonschema-rs fast path would have to do (still without the duplicate-key
    # check, so it is favoured): parse, validate, make the row, exact path on failure
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return parse_event(raw)
    return row_of(obj) if is_valid(obj) else parse_event(raw)


def _pydantic_model() -> Any:
    import pydantic

    fields: dict[str, Any] = {}
    for spec in FIELDS.values():
        t: Any = {"string": str, "category": str, "boolean": bool, "integer": int}.get(
            spec.kind, float
        )
        if spec.kind in ("string", "category"):
            t = Annotated[
                str, pydantic.StringConstraints(min_length=1, max_length=spec.max_length or 64)
            ]
        elif spec.kind in ("integer", "number"):
            t = Annotated[t, pydantic.Field(ge=spec.minimum, le=spec.maximum)]
        fields[spec.name] = (t, ...) if spec.required else (t | None, None)
    config = pydantic.ConfigDict(strict=True)
    return pydantic.create_model("Event", __config__=config, **fields)


def _pydantic(model: Any, raw: bytes) -> object:
    try:
        return model.model_validate_json(raw)
    except Exception:
        return None


def encoding(X: np.ndarray) -> dict[str, float]:
    """µs per score record to build and encode it, by method (features of generated events)."""
    n = len(X)
    rows, scores = X.tolist(), np.random.default_rng(1).random(n).tolist()
    row: tuple[Any, ...] = ("ev-1", 1_767_225_600_000, "acct-1")
    origin = Origin("events", 1, 7, 1_767_225_600_000)

    def as_dicts() -> list[bytes]:
        return [
            orjson.dumps(
                {
                    "event_id": row[0],
                    "account_id": row[2],
                    "event_time": row[1],
                    "score": scores[i],
                    "decision": "approve",
                    "model_version": "v1",
                    "fallback": False,
                    "features": dict(zip(FEATURE_NAMES, rows[i], strict=False)),
                    "event_timestamp": origin.timestamp_ms,
                    "scored_at": 0,
                    "source": {"topic": "events", "partition": 1, "offset": origin.offset},
                }
            )
            for i in range(n)
        ]

    def as_structs(features: Callable[[], Sequence[Sequence[float | int | None]]]) -> list[bytes]:
        pairs = encode_scores(
            [row] * n, features(), scores, ["approve"] * n, "v1", False, [origin] * n, 0
        )
        return [value for _, value in pairs]

    def floats() -> list[bytes]:
        return as_structs(X.tolist)

    def ints() -> list[bytes]:  # whole-number features as ints, conversion included
        return as_structs(lambda: feature_values(X))

    assert orjson.loads(as_dicts()[0]) == orjson.loads(floats()[0]) == orjson.loads(ints()[0])
    return {
        "dict + orjson": best_us(as_dicts, n),
        "msgspec Struct, features as floats": best_us(floats, n),
        "msgspec Struct, whole-number features as ints (used)": best_us(ints, n),
    }


@dataclasses.dataclass(frozen=True, slots=True)
class _FrozenOrigin:
    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None = None


class _TupleOrigin(NamedTuple):
    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None = None


def record_objects(n: int) -> dict[str, float]:
    """µs per consumed record to build its origin object."""
    return {
        "frozen dataclass": best_us(
            lambda: [_FrozenOrigin("events", 1, i, 5) for i in range(n)], n
        ),
        "NamedTuple": best_us(lambda: [_TupleOrigin("events", 1, i, 5) for i in range(n)], n),
        "msgspec Struct, gc=False (used)": best_us(
            lambda: [Origin("events", 1, i, 5) for i in range(n)], n
        ),
    }


def prediction(model: Model, X: np.ndarray) -> dict[str, Any]:
    """µs per event to predict a batch of 1,000, LightGBM against compiled trees."""
    batches = [X[i : i + 1000] for i in range(0, len(X), 1000)]
    lightgbm = best_us(lambda: [model.predict(b) for b in batches], len(X))
    out: dict[str, Any] = {"LightGBM (predictor=lightgbm)": lightgbm}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        try:  # the shipped wrapper (streams.model.compiled), as predictor=auto uses it
            trees = compile_trees(model.booster, model.manifest["model_sha256"], Path(tmp))
        except ModelError:  # treelite/tl2cgen not installed, or no gcc
            return out
        out["tl2cgen compile seconds"] = round(time.perf_counter() - t0, 1)

        def compiled() -> list[np.ndarray]:
            return [trees.predict(b) for b in batches]

        out["treelite/tl2cgen compiled (predictor=auto, the default)"] = best_us(compiled, len(X))
        diff = np.abs(np.concatenate(compiled()).reshape(-1) - model.predict(X))
        out["max |compiled - LightGBM|"] = float(diff.max())
    return out


def velocity(raws: list[bytes]) -> dict[str, float]:
    """Velocity features (:mod:`streams.model.velocity`) over the generated stream, in
    order, µs per event; and its busiest account's events, for scale."""
    events = [e for e in map(parse_event, raws) if isinstance(e, dict)]
    fields = ("account_id", "event_time", "amount", "merchant_category", "country")
    args = [tuple(e.get(f) for f in fields) for e in events]

    def run() -> None:
        observe = AccountFeatures(VelocityConfig()).observe
        for a in args:
            observe(*a)

    busiest = Counter(a[0] for a in args).most_common(1)[0][1]
    return {"in topic order": best_us(run, len(args)), "busiest account's events": busiest}


def stages(model: Model, raws: list[bytes]) -> dict[str, dict[str, float]]:
    """The pure pipeline (and drift) per stage in µs per event, by batch size and with
    Python's automatic GC or the scorer's :class:`~streams.ops.gc_control.Collector`."""
    records = [
        InRecord(Origin("events", i % 6, i, 1_767_225_600_000), None, r) for i, r in enumerate(raws)
    ]
    out = {}
    for size in (100, 1000, 5000):
        for gc_mode in ("automatic GC", "GC between batches (used)"):
            collector = Collector(1.0 if gc_mode != "automatic GC" else 0.0)
            try:
                row = _pipeline_run(model, records, size, collector)
            finally:
                collector.close()
            out[f"{size}, {gc_mode}"] = row
    return out


def _pipeline_run(
    model: Model, records: list[InRecord], size: int, collector: Collector
) -> dict[str, float]:
    pipe = ScoringPipeline(model, PipelineConfig())
    drift = DriftMonitor(model.manifest, DriftConfig.from_settings(Settings()))
    totals: dict[str, float] = {}
    t0 = time.perf_counter()
    for i in range(0, len(records), size):
        batch = records[i : i + size]
        result = pipe.process(batch, 0)
        t = time.perf_counter()
        drift.observe(result.features, result.scores, result.origins, result.event_times)
        result.seconds["drift"] = time.perf_counter() - t
        for stage, secs in result.seconds.items():
            totals[stage] = totals.get(stage, 0.0) + secs
        collector.between_batches()
    elapsed = time.perf_counter() - t0
    row = {k: round(v / len(records) * 1e6, 2) for k, v in totals.items()}
    row["total"] = round(elapsed / len(records) * 1e6, 2)
    return row


def main() -> None:
    """Run every measurement and write bench/results/hotpath.json (and BENCHMARKS.md)."""
    from bench.report import write_report

    raws = events(50_000)
    model = load_model(ROOT / "models")
    valid = [r for r in decode_events(raws) if isinstance(r, tuple)]
    X = model.assembler.assemble_rows(valid)
    result = {
        "events": len(raws),
        "validation_us": validation(raws),
        "encoding_us": encoding(X[:20_000]),
        "record_objects_us": record_objects(100_000),
        "prediction_us": prediction(model, X),
        "velocity_us": velocity(raws),
        # as shipped: predictor=auto, the trees compiled (required here, not a fallback)
        "stages_us_by_batch_size": stages(
            load_model(ROOT / "models", compiled_dir=ROOT / "var" / "compiled"), raws
        ),
    }
    out = ROOT / "bench" / "results" / "hotpath.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    write_report()


if __name__ == "__main__":
    main()

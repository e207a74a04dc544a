"""Do velocity features earn their place? AUC with and without them (issue 27).

    .venv/bin/python -m bench.velocity_auc            # 200,000 events, ~1 minute

Generates events with account takeovers (``GeneratorConfig.takeovers``: bursts of an
account's payments, and fraud that depends on the account's real recent behaviour),
computes the velocity features over them in stream order with the scorer's code
(:mod:`streams.model.velocity`), and trains the same LightGBM model twice on the
earlier 80% of the events: on the event's own features, and on those plus the
velocity features. AUC on the later 20%, overall and on the events of accounts seen
before (the cold starts have no velocity to go by). For comparison, the same with
takeovers off: the features should add little where behaviour does not matter.
Writes ``bench/results/velocity_auc.json``.
"""

from __future__ import annotations

import argparse
from typing import Any

import lightgbm as lgb
import numpy as np
import orjson

from bench.harness import RESULTS
from streams.dev.generator import GeneratorConfig, generate_events_clean
from streams.dev.training import LEVELS, TAKEOVERS, TrainConfig, velocity_columns
from streams.model.features import CATEGORICAL_INDEX, FEATURE_NAMES, FeatureAssembler, Matrix
from streams.model.metrics import roc_auc
from streams.model.training import holdout_split, training_params
from streams.model.velocity import VELOCITY_FEATURES


def dataset(seed: int, events: int, takeovers: float) -> tuple[Matrix, Matrix, Matrix, Matrix]:
    """Event features, velocity features, labels and cold-start flags, in stream order."""
    config = TrainConfig()
    gen = GeneratorConfig(
        seed=seed,
        count=events,
        events_per_second=config.events_per_second,
        takeovers=takeovers,
    )
    clean = generate_events_clean(gen)
    X = FeatureAssembler(LEVELS).assemble(clean.events)
    V, cold = velocity_columns(clean.events)  # train --velocity's and the scorer's code
    return X, V, clean.labels.astype(np.float64), cold


def auc_with_and_without(seed: int, events: int, takeovers: float) -> dict[str, Any]:
    """Train both models on the earlier rows; AUC of each on the later ones."""
    X, V, y, cold = dataset(seed, events, takeovers)
    cut = holdout_split(len(y), TrainConfig().holdout_fraction)
    out: dict[str, Any] = {
        "takeovers": takeovers,
        "events": len(y),
        "fraud_rate": round(float(y.mean()), 5),
        "holdout_cold_share": round(float(cold[cut:].mean()), 4),
    }
    for name, M, names in (
        ("without", X, FEATURE_NAMES),
        ("with", np.hstack([X, V]), [*FEATURE_NAMES, *VELOCITY_FEATURES]),
    ):
        booster = _train(M[:cut], y[:cut], names, seed)
        p = np.asarray(booster.predict(M[cut:], num_threads=1), dtype=np.float64)
        warm = ~cold[cut:]
        out[f"auc_{name}"] = round(roc_auc(y[cut:], p), 4)
        out[f"auc_{name}_warm_accounts"] = round(roc_auc(y[cut:][warm], p[warm]), 4)
    return out


def _train(X: Matrix, y: Matrix, names: list[str], seed: int) -> lgb.Booster:
    config = TrainConfig()
    data = lgb.Dataset(X, y, feature_name=names, categorical_feature=CATEGORICAL_INDEX)
    params = training_params(config.params, seed)
    return lgb.train(params, data, num_boost_round=config.rounds)


def main() -> None:
    """Both generators, both models; write the JSON."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=200_000)
    p.add_argument("--takeovers", type=float, default=TAKEOVERS, help="per event")
    p.add_argument("--seed", type=int, default=27)
    args = p.parse_args()
    rows = [auc_with_and_without(args.seed, args.events, t) for t in (args.takeovers, 0.0)]
    for row in rows:
        print(row, flush=True)
    command = f"python -m bench.velocity_auc --events {args.events} --takeovers {args.takeovers}"
    RESULTS.mkdir(parents=True, exist_ok=True)
    result = {"command": command, "rows": rows}
    (RESULTS / "velocity_auc.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()

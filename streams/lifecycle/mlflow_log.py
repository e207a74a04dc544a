"""A retrain as an MLflow run: the only module that imports mlflow (an optional extra,
``pip install streamscore[mlflow]``), imported when a tracking URI is set.

>>> log_retrain("file:///tmp/mlruns", result)   # doctest: +SKIP
'3f2a...'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from streams.errors import ConfigError, StreamscoreError

if TYPE_CHECKING:
    from streams.lifecycle.retrain import RetrainResult

EXPERIMENT = "streamscore-retrain"


class MlflowLogError(StreamscoreError):
    """The tracking server refused or failed the run (the model version is written)."""


def _mlflow() -> Any:
    try:
        import mlflow
    except ImportError as exc:
        raise ConfigError(
            "mlflow_tracking_uri is set but mlflow is not installed "
            "(pip install 'streamscore[mlflow]')"
        ) from exc
    return mlflow


def log_retrain(tracking_uri: str, result: RetrainResult) -> str:
    """Log ``result`` as a run of the ``streamscore-retrain`` experiment; its run id."""
    mlflow = _mlflow()
    try:
        return _log(mlflow, tracking_uri, result)
    except mlflow.exceptions.MlflowException as exc:
        raise MlflowLogError(
            f"{result.path} written, but not logged to MLflow at {tracking_uri}: {exc}"
        ) from exc


def _log(mlflow: Any, tracking_uri: str, result: RetrainResult) -> str:
    client = mlflow.MlflowClient(tracking_uri=tracking_uri)
    found = client.get_experiment_by_name(EXPERIMENT)
    experiment = found.experiment_id if found else client.create_experiment(EXPERIMENT)
    m = result.manifest
    lineage, training = m["lineage"], m["training"]
    run = client.create_run(experiment, run_name=m["model_version"])
    run_id: str = run.info.run_id
    params = {
        "version": m["model_version"],
        "parent": lineage["parent"],
        "seed": training["seed"],
        "num_trees": training["num_trees"],
        "events": training["events"],
        "model_sha256": m["model_sha256"],
        **{f"lgb_{k}": v for k, v in training["params"].items()},
    }
    for key, value in params.items():
        client.log_param(run_id, key, value)
    counts = lineage["label_counts"]
    metrics = {f"labels_{k}": counts[k] for k in ("events", "positives", "negatives")}
    for who in ("new", "parent"):
        for name, value in lineage["holdout"][who].items():
            metrics[f"{who}_holdout_{name}"] = value
    for key, value in metrics.items():
        client.log_metric(run_id, key, float(value))
    for name in ("model.txt", "manifest.json"):
        client.log_artifact(run_id, str(result.path / name))
    client.set_terminated(run_id)
    return run_id

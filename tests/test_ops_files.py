"""The shipped operations files are valid: Prometheus rules (with their unit tests) and
config through promtool, the Grafana dashboard's structure and metric names, and the
Kubernetes manifests against Kubernetes' OpenAPI schemas (kubernetes-validate, offline)
plus our own schema for the KEDA ScaledObject (no registry package ships KEDA's CRD)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from jsonschema import Draft202012Validator

ROOT = Path(__file__).resolve().parent.parent
PROM = ROOT / "deploy" / "prometheus"
K8S = ROOT / "deploy" / "k8s"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "streamscore.json"
DECLARED = set(
    re.findall(r'"(streamscore_[a-z_]+)"', (ROOT / "streams" / "metrics.py").read_text())
)
DECLARED |= {"streamscore_consumer_lag"}  # streams/lag.py, a custom collector


def _promtool(*args: str) -> None:
    assert shutil.which("promtool"), "promtool missing: ./run test installs Debian's prometheus"
    subprocess.run(["promtool", *args], cwd=PROM, check=True, capture_output=True)


def test_rules_config_and_rule_unit_tests_pass() -> None:
    _promtool("check", "rules", "alerts.yml")
    _promtool("check", "config", "prometheus.yml")
    _promtool("test", "rules", "alerts_test.yml")


def _metric_names(expr: str) -> set[str]:
    names = set(re.findall(r"\b(streamscore_[a-z_]+)", expr))
    # histograms and counters are queried by their series names
    return {re.sub(r"_(total|bucket|sum|count)$", "", n) for n in names}


def test_alert_rules_use_declared_metrics() -> None:
    rules = yaml.safe_load((PROM / "alerts.yml").read_text())["groups"][0]["rules"]
    used = set().union(*(_metric_names(r["expr"]) for r in rules))
    assert used and used <= DECLARED, used - DECLARED


def test_dashboard_structure_and_metrics() -> None:
    dash = json.loads(DASHBOARD.read_text())
    panels = dash["panels"]
    assert dash["uid"] == "streamscore" and len({p["id"] for p in panels}) == len(panels)
    assert "lag" in panels[0]["title"].lower()  # ops watch lag first: top left
    for panel in panels:
        assert panel["datasource"]["uid"] == "prometheus" and panel["targets"]
        for target in panel["targets"]:
            assert _metric_names(target["expr"]) <= DECLARED, target["expr"]


def _documents() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        docs += [(path.name, d) for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


@pytest.mark.parametrize(
    ("name", "doc"), _documents(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_kubernetes_manifests_validate(name: str, doc: dict[str, Any]) -> None:
    if doc["kind"] == "ScaledObject":
        schema = json.loads((K8S / "schemas" / "scaledobject-keda-v1alpha1.json").read_text())
        errors = list(Draft202012Validator(schema).iter_errors(doc))
        assert not errors, errors[0].message
    else:
        kubernetes_validate.validate(doc, "1.37.0", strict=True)


def test_kustomization_lists_every_manifest() -> None:
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(
        p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml"
    )


def test_keda_never_scales_past_the_partitions() -> None:
    docs = dict((d["kind"], d) for _, d in _documents())
    partitions = int(docs["ConfigMap"]["data"]["STREAMSCORE_TOPIC_PARTITIONS"])
    assert docs["ScaledObject"]["spec"]["maxReplicaCount"] <= partitions
    trigger = docs["ScaledObject"]["spec"]["triggers"][0]["metadata"]
    assert trigger["consumerGroup"] == docs["ConfigMap"]["data"]["STREAMSCORE_SCORER_GROUP_ID"]

"""The shipped operations files are valid and agree with each other.

- Prometheus: ``promtool check rules``/``check config`` and the rules' unit tests
  (``promtool test rules deploy/prometheus/alerts_test.yml``), with Debian's promtool.
- Grafana: the dashboard's structure (unique ids, lag panel top-left, no overlapping
  panels, datasource uid ``prometheus``) and that its queries name only declared metrics;
  the provisioning files point where docker-compose.yml mounts them. No registry package
  ships a JSON Schema of Grafana dashboards, so these are structural checks.
- Kubernetes: every core manifest against the Kubernetes 1.37 OpenAPI schemas bundled in
  ``kubernetes-validate`` (offline, strict: unknown fields fail). KEDA's ScaledObject and
  TriggerAuthentication are CRDs that no registry package ships, so they are validated with
  jsonschema against OUR OWN schemas in ``deploy/k8s/schemas/`` (the fields we use, from
  KEDA's documentation; unknown fields fail). Then cross-references: the settings load
  into ``Settings``, KEDA never scales past the partitions, names and ports resolve.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path, PurePosixPath
from typing import Any

import kubernetes_validate
import pytest
import yaml
from jsonschema import Draft202012Validator

from streams.config import Settings

ROOT = Path(__file__).resolve().parent.parent
PROM = ROOT / "deploy" / "prometheus"
GRAFANA = ROOT / "deploy" / "grafana"
K8S = ROOT / "deploy" / "k8s"
DASHBOARD = GRAFANA / "dashboards" / "streamscore.json"
KUBERNETES_VERSION = "1.37.0"
KEDA_SCHEMAS = {
    "ScaledObject": "scaledobject-keda-v1alpha1.json",
    "TriggerAuthentication": "triggerauthentication-keda-v1alpha1.json",
}
DECLARED = set(
    re.findall(r'"(streamscore_[a-z_]+)"', (ROOT / "streams" / "ops" / "metrics.py").read_text())
)
DECLARED |= {"streamscore_consumer_lag"}  # streams/lag.py, a custom collector


def _promtool(*args: str) -> None:
    assert shutil.which("promtool"), "promtool missing: ./run test installs Debian's prometheus"
    done = subprocess.run(["promtool", *args], cwd=PROM, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def _metric_names(expr: str) -> set[str]:
    names = set(re.findall(r"\b(streamscore_[a-z_]+)", expr))
    # counters and histograms are queried by their series names
    return {re.sub(r"_(total|bucket|sum|count)$", "", n) for n in names}


def _compose_volumes(service: str) -> dict[str, str]:
    """Container path -> host path of the service's bind mounts in docker-compose.yml."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    mounts = (v.split(":") for v in compose["services"][service]["volumes"])
    return {m[1]: m[0] for m in mounts}


# --- Prometheus -----------------------------------------------------------------


def test_rules_and_config_pass_promtool() -> None:
    _promtool("check", "rules", "alerts.yml")
    _promtool("check", "config", "prometheus.yml")


def test_alert_rules_unit_tests_pass() -> None:
    _promtool("test", "rules", "alerts_test.yml")


def test_alert_rules_are_actionable_and_use_declared_metrics() -> None:
    groups = yaml.safe_load((PROM / "alerts.yml").read_text())["groups"]
    assert [g["name"] for g in groups] == ["streamscore"]
    rules = groups[0]["rules"]
    for rule in rules:
        assert rule["labels"]["severity"] in {"page", "ticket"}, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
    used = set().union(*(_metric_names(r["expr"]) for r in rules))
    assert used and used <= DECLARED, used - DECLARED


def test_prometheus_loads_the_rules_mounted_beside_its_config() -> None:
    config = yaml.safe_load((PROM / "prometheus.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]
    mounts = _compose_volumes("prometheus")
    config_path = next(c for c, h in mounts.items() if h.endswith("prometheus/prometheus.yml"))
    rules_path = PurePosixPath(config_path).parent / "alerts.yml"
    assert mounts[str(rules_path)] == "./deploy/prometheus/alerts.yml"


# --- Grafana --------------------------------------------------------------------


def test_dashboard_structure_and_metrics() -> None:
    dash = json.loads(DASHBOARD.read_text())
    panels = dash["panels"]
    assert dash["uid"] == "streamscore" and dash["schemaVersion"] >= 39
    assert len({p["id"] for p in panels}) == len(panels)
    lag = panels[0]  # ops watch lag first: top left
    assert "lag" in lag["title"].lower() and (lag["gridPos"]["x"], lag["gridPos"]["y"]) == (0, 0)
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        area = {
            (x, y)
            for x in range(pos["x"], pos["x"] + pos["w"])
            for y in range(pos["y"], pos["y"] + pos["h"])
        }
        assert not area & cells, f"{panel['title']} overlaps another panel"
        cells |= area
        assert panel["datasource"]["uid"] == "prometheus" and panel["targets"]
        assert len({t["refId"] for t in panel["targets"]}) == len(panel["targets"])
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "prometheus"
            assert _metric_names(target["expr"]) <= DECLARED, target["expr"]
    every_expr = " ".join(t["expr"] for p in panels for t in p["targets"])
    assert "process_resident_memory_bytes" in every_expr


def test_grafana_provisioning_matches_the_compose_mounts() -> None:
    provisioning = GRAFANA / "provisioning"
    (source,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())[
        "datasources"
    ]
    assert (source["uid"], source["type"]) == ("prometheus", "prometheus")
    assert source["url"] == "http://prometheus:9090"  # the compose service and its port
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "streamscore.yml").read_text())[
        "providers"
    ]
    mounts = _compose_volumes("grafana")
    assert mounts[provider["options"]["path"]] == "./deploy/grafana/dashboards"
    assert mounts["/etc/grafana/provisioning"] == "./deploy/grafana/provisioning"


# --- Kubernetes -----------------------------------------------------------------


def _documents() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            docs += [(path.name, d) for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def _one(kind: str, name: str | None = None) -> dict[str, Any]:
    docs = [d for _, d in _documents() if d["kind"] == kind]
    (doc,) = [d for d in docs if name in (None, d["metadata"]["name"])]
    return doc


def _container(kind: str, name: str | None = None) -> dict[str, Any]:
    (container,) = _one(kind, name)["spec"]["template"]["spec"]["containers"]
    return container


WORKLOADS = [("StatefulSet", "scorer"), ("StatefulSet", "joiner")]


_QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")
_SUFFIX = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
_SUFFIX |= {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def _quantity(value: str | int) -> float:
    """A Kubernetes quantity ("500m", "1", "256Mi"): the OpenAPI schemas only say string."""
    match = _QUANTITY.match(str(value))
    assert match, f"not a Kubernetes quantity: {value!r}"
    return float(match[1]) * _SUFFIX.get(match[2] or "", 1)


@pytest.mark.parametrize(
    ("name", "doc"), _documents(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_kubernetes_manifests_validate(name: str, doc: dict[str, Any]) -> None:
    if doc["kind"] in KEDA_SCHEMAS:  # CRDs: our own schemas
        schema = json.loads((K8S / "schemas" / KEDA_SCHEMAS[doc["kind"]]).read_text())
        errors = list(Draft202012Validator(schema).iter_errors(doc))
        assert not errors, f"{name}: {errors[0].json_path}: {errors[0].message}"
    else:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_kustomization_lists_every_manifest() -> None:
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(
        p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml"
    )


def test_settings_load_from_the_configmap_and_secret() -> None:
    env = {**_one("ConfigMap")["data"], **_one("Secret")["stringData"]}
    env["STREAMSCORE_SCORER_INSTANCE_ID"] = "scorer-0"  # the downward API's pod name
    # extra="forbid": a key that is no setting fails here, and so does a bad value
    settings = Settings(**{k.removeprefix("STREAMSCORE_").lower(): v for k, v in env.items()})
    assert settings.security_protocol == "SASL_SSL" and settings.sasl_username
    scorer_env = {e["name"]: e for e in _container("StatefulSet", "scorer")["env"]}
    field = scorer_env["STREAMSCORE_SCORER_INSTANCE_ID"]["valueFrom"]["fieldRef"]["fieldPath"]
    assert field == "metadata.name"
    # a StatefulSet's pod names are stable: static members (tests/test_deploy.py)
    assert scorer_env["STREAMSCORE_STATIC_MEMBERSHIP"]["value"] == "true"
    for kind, name in WORKLOADS:
        refs = _container(kind, name)["envFrom"]
        assert {"configMapRef": {"name": "streamscore"}} in refs
        assert {"secretRef": {"name": "streamscore"}} in refs


def test_keda_scales_the_scorer_on_its_lag_within_the_partitions() -> None:
    config = _one("ConfigMap")["data"]
    scaled = _one("ScaledObject")["spec"]
    scorers = _one("StatefulSet", "scorer")["spec"]
    partitions = int(config["STREAMSCORE_TOPIC_PARTITIONS"])
    # partitions bound parallelism: no more scorers than partitions, rollouts included
    # (a StatefulSet's rolling update replaces a pod in place: no surge pod)
    assert scorers["updateStrategy"]["type"] == "RollingUpdate"
    assert scaled["maxReplicaCount"] <= partitions
    assert 1 <= scaled["minReplicaCount"] <= scaled["maxReplicaCount"]
    assert "replicas" not in scorers  # KEDA owns it; `kubectl apply` must not reset it
    target = scaled["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("StatefulSet", "scorer")
    (trigger,) = scaled["triggers"]
    meta = trigger["metadata"]
    assert meta["bootstrapServers"] == config["STREAMSCORE_BOOTSTRAP_SERVERS"]
    assert meta["consumerGroup"] == config["STREAMSCORE_SCORER_GROUP_ID"]
    assert meta["topic"] == config["STREAMSCORE_TOPIC_EVENTS"]
    # KEDA connects like the processors: same SASL mechanism, TLS, credentials
    keda_sasl = {
        "PLAIN": "plaintext",
        "SCRAM-SHA-256": "scram_sha256",
        "SCRAM-SHA-512": "scram_sha512",
    }
    assert meta["sasl"] == keda_sasl[config["STREAMSCORE_SASL_MECHANISM"]]
    assert (meta["tls"] == "enable") == config["STREAMSCORE_SECURITY_PROTOCOL"].endswith("SSL")
    auth = _one("TriggerAuthentication")
    assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"]
    secret = _one("Secret")
    refs = {r["parameter"]: r for r in auth["spec"]["secretTargetRef"]}
    assert set(refs) == {"username", "password"}
    for ref in refs.values():
        assert ref["name"] == secret["metadata"]["name"] and ref["key"] in secret["stringData"]


def test_probes_ports_services_and_state_volume_resolve() -> None:
    config = _one("ConfigMap")["data"]
    port = int(config["STREAMSCORE_METRICS_PORT"])
    for kind, name in WORKLOADS:
        template = _one(kind, name)["spec"]["template"]
        container = _container(kind, name)
        assert {"name": "metrics", "containerPort": port} in container["ports"]
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
        assert template["metadata"]["annotations"]["prometheus.io/port"] == str(port)
        assert template["spec"]["terminationGracePeriodSeconds"] >= 30
        labels = template["metadata"]["labels"]
        assert _one(kind, name)["spec"]["selector"]["matchLabels"].items() <= labels.items()
        services = [
            d
            for _, d in _documents()
            if d["kind"] == "Service" and d["spec"]["selector"].items() <= labels.items()
        ]
        assert services and all(s["spec"]["ports"][0]["targetPort"] == "metrics" for s in services)
    joiner = _one("StatefulSet", "joiner")["spec"]
    (governing,) = [
        d
        for _, d in _documents()
        if d["kind"] == "Service" and d["metadata"]["name"] == joiner["serviceName"]
    ]
    assert governing["spec"]["clusterIP"] == "None"  # headless
    (claim,) = joiner["volumeClaimTemplates"]
    (mount,) = _container("StatefulSet", "joiner")["volumeMounts"]
    assert mount == {"name": claim["metadata"]["name"], "mountPath": "/var/lib/streamscore"}
    assert config["STREAMSCORE_JOINER_DATA_DIR"] == mount["mountPath"]
    assert config["STREAMSCORE_JOINER_STORE"] == "rocksdb://"
    # the image runs as uid 65534: the volume must be writable for it
    assert joiner["template"]["spec"]["securityContext"]["fsGroup"] == 65534


def test_resources_are_quantities_and_requests_fit_the_limits() -> None:
    for kind, name in WORKLOADS:
        resources = _container(kind, name)["resources"]
        for what in ("cpu", "memory"):
            request, limit = resources["requests"][what], resources["limits"][what]
            assert 0 < _quantity(request) <= _quantity(limit), (kind, what)
    (claim,) = _one("StatefulSet", "joiner")["spec"]["volumeClaimTemplates"]
    assert _quantity(claim["spec"]["resources"]["requests"]["storage"]) == 2**30  # 1Gi

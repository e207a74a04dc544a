"""The compose stack is a valid Compose file wiring Kafka, scorer, joiner and Prometheus;
the Kubernetes scorers are static group members with stable pod names (a StatefulSet that
KEDA scales). tests/test_ops_files.py validates every manifest against its schema."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from streams.config import Settings

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy" / "k8s"


def _compose() -> list[str]:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    assert probe.returncode == 0, "no Compose client: ./run test installs Debian's docker-compose"
    return ["docker", "compose"]


def test_compose_file_is_valid_and_has_the_stack() -> None:
    cmd = _compose()
    subprocess.run([*cmd, "config", "-q"], cwd=ROOT, check=True)
    services = subprocess.run(
        [*cmd, "config", "--services"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.split()
    assert sorted(services) == ["grafana", "joiner", "kafka", "prometheus", "scorer"]
    rendered = subprocess.run(
        [*cmd, "config"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    assert rendered.count("STREAMSCORE_BOOTSTRAP_SERVERS: kafka:9092") == 2  # scorer and joiner


def _manifests() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(K8S.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d and "kind" in d]
    return docs


def _named(kind: str, name: str) -> dict[str, Any]:
    (doc,) = [d for d in _manifests() if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def test_scorers_are_a_statefulset_of_static_members_named_by_their_pods() -> None:
    # a Deployment's pod names change at every rollout: each new pod a new static member,
    # its predecessor's partitions idle for the session timeout
    scorer_labels = {"app.kubernetes.io/component": "scorer"}
    pods = [d for d in _manifests() if "template" in d.get("spec", {})]
    scorers = [
        d
        for d in pods
        if scorer_labels.items() <= d["spec"]["template"]["metadata"]["labels"].items()
    ]
    assert [d["kind"] for d in scorers] == ["StatefulSet"]
    spec = _named("StatefulSet", "scorer")["spec"]
    assert "replicas" not in spec  # KEDA owns it; `kubectl apply` must not reset it
    assert spec["podManagementPolicy"] == "Parallel"  # a scale-up starts its pods at once
    assert spec["updateStrategy"]["type"] == "RollingUpdate"  # one pod at a time, no surge
    governing = _named("Service", spec["serviceName"])["spec"]
    assert governing["clusterIP"] == "None"
    assert governing["selector"].items() <= spec["template"]["metadata"]["labels"].items()
    (container,) = spec["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    field = env["STREAMSCORE_SCORER_INSTANCE_ID"]["valueFrom"]["fieldRef"]["fieldPath"]
    assert field == "metadata.name"  # scorer-0, scorer-1, ...: stable across restarts
    pod_env = {
        **_named("ConfigMap", "streamscore")["data"],
        **_named("Secret", "streamscore")["stringData"],
    }
    pod_env |= {k: e["value"] for k, e in env.items() if "value" in e}
    pod_env["STREAMSCORE_SCORER_INSTANCE_ID"] = "scorer-0"  # what the downward API gives
    settings = Settings(**{k.removeprefix("STREAMSCORE_").lower(): v for k, v in pod_env.items()})
    assert settings.static_membership and settings.scorer_instance_id == "scorer-0"


def test_keda_scales_the_scorer_statefulset() -> None:
    target = _named("ScaledObject", "scorer")["spec"]["scaleTargetRef"]
    scorer = _named(target["kind"], target["name"])
    assert (target["apiVersion"], target["kind"]) == (scorer["apiVersion"], "StatefulSet")

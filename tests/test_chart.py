"""The Helm chart, rendered by Helm's own engine (helm-python-sdk: Helm v4's Go library, no binary
and no cluster) with the default values plus the secrets an install must give, with a
production-like values file and as a trial; every manifest validated offline against the
Kubernetes OpenAPI schemas (kubernetes-validate), then the properties an IT team relies on:
probes, no root, one beat, hook order, secrets never in ConfigMaps. A copy of the chart with a
probe removed or a template broken must fail these checks."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import helm_python
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "charts" / "huiyuan"
KUBERNETES = "1.30"
INSTALL_SECRETS = {
    "secrets": {
        "secretKey": "s" * 50,
        "credentialsKeys": "Q1FYbWVxVHpOd2J1d3pqUGZ4b3Z0cG5SYzRxVGt6bmM=",
        "databaseUrl": "postgres://huiyuan:pw@db.corp:5432/huiyuan",
        "redisUrl": "redis://redis.corp:6379/0",
    }
}
SECRET_MARKERS = ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "CREDENTIALS", "EMAIL_URL", "PASSWORD", "postgres://")


def render(values: dict[str, Any] | None = None, chart: Path = CHART, **options: Any) -> list[dict[str, Any]]:
    rendered = helm_python.Chart.load(str(chart)).render(
        values or {}, name="hy", namespace="huiyuan", is_install=True, **options
    )
    docs = []
    for path, text in rendered.items():
        if path.endswith(".txt"):
            continue
        docs += [doc for doc in yaml.safe_load_all(text) if doc]
    return docs


def production_values() -> dict[str, Any]:
    return yaml.safe_load((CHART / "ci" / "production-values.yaml").read_text())


def problems(docs: list[dict[str, Any]]) -> list[str]:
    """What an IT team would reject, in words; empty when the chart is sound."""
    found: list[str] = []
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], []).append(doc)
    workloads = [*by_kind.get("Deployment", []), *by_kind.get("StatefulSet", []), *by_kind.get("Job", [])]
    for workload in workloads:
        name = workload["metadata"]["name"]
        pod = workload["spec"]["template"]["spec"]
        pod_context = pod.get("securityContext", {})
        for container in pod["containers"]:
            context = container.get("securityContext", {})
            if not (pod_context.get("runAsNonRoot") or context.get("runAsNonRoot")):
                found.append(f"{name}: may run as root")
            if context.get("allowPrivilegeEscalation") is not False:
                found.append(f"{name}: privilege escalation not refused")
            if not container.get("resources", {}).get("limits"):
                found.append(f"{name}: no resource limits")
            if workload["kind"] != "Job":
                for probe in ("livenessProbe", "readinessProbe"):
                    if probe not in container:
                        found.append(f"{name}: no {probe}")
    beats = [d for d in by_kind.get("Deployment", []) if d["metadata"]["name"].endswith("-beat")]
    if len(beats) != 1 or beats[0]["spec"].get("replicas") != 1 or beats[0]["spec"]["strategy"]["type"] != "Recreate":
        found.append("beat: not exactly one replica replaced by Recreate")
    jobs = by_kind.get("Job", [])
    if not jobs or "pre-upgrade" not in jobs[0]["metadata"]["annotations"].get("helm.sh/hook", ""):
        found.append("migrations: no pre-upgrade Job")
    else:
        job_weight = int(jobs[0]["metadata"]["annotations"]["helm.sh/hook-weight"])
        for kind in ("ConfigMap", "Secret"):
            for doc in by_kind.get(kind, []):
                weight = int(doc["metadata"].get("annotations", {}).get("helm.sh/hook-weight", "999"))
                if weight >= job_weight:
                    found.append(f"{doc['metadata']['name']}: not created before the migration Job")
    for config_map in by_kind.get("ConfigMap", []):
        for key, value in (config_map.get("data") or {}).items():
            if any(marker in key or marker in str(value) for marker in SECRET_MARKERS):
                found.append(f"{config_map['metadata']['name']}: secret {key} in a ConfigMap")
    if not by_kind.get("PodDisruptionBudget"):
        found.append("no PodDisruptionBudget")
    if not by_kind.get("NetworkPolicy"):
        found.append("no NetworkPolicy")
    return found


def schema_errors(docs: list[dict[str, Any]]) -> list[str]:
    errors = []
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, KUBERNETES, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{doc['kind']} {doc['metadata']['name']}: {exc.message} at {list(exc.path)}")
        except kubernetes_validate.SchemaNotFoundError:
            errors.append(f"{doc['kind']} {doc['metadata']['name']}: no such kind in Kubernetes {KUBERNETES}")
    return errors


@pytest.mark.parametrize(
    "values",
    [
        pytest.param(INSTALL_SECRETS, id="defaults"),
        pytest.param(None, id="production"),
        pytest.param(
            {
                **INSTALL_SECRETS,
                "secrets": {"secretKey": "s" * 50, "credentialsKeys": "k"},
                "postgresql": {"enabled": True, "password": "trial-pw"},
                "redis": {"enabled": True},
                "singleTenant": {"enabled": True, "host": "vip.shop.cn"},
            },
            id="trial-single-merchant",
        ),
    ],
)
def test_the_chart_renders_valid_manifests_with_the_properties_we_promise(values: dict[str, Any] | None) -> None:
    docs = render(values if values is not None else production_values())
    assert schema_errors(docs) == []
    assert problems(docs) == []
    kinds = {doc["kind"] for doc in docs}
    assert {"Deployment", "Job", "Service", "Ingress", "ConfigMap", "HorizontalPodAutoscaler"} <= kinds


def test_workers_are_split_by_queue_and_scaled() -> None:
    docs = render(production_values())
    workers = {
        d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment" and "-worker-" in d["metadata"]["name"]
    }
    queues = {
        name: next(
            e["value"]
            for e in d["spec"]["template"]["spec"]["containers"][0]["env"]
            if e["name"] == "HUIYUAN_WORKER_QUEUES"
        )
        for name, d in workers.items()
    }
    assert queues == {
        "hy-huiyuan-worker-default": "celery",
        "hy-huiyuan-worker-automation": "automation",
        "hy-huiyuan-worker-integrations": "integrations",
    }
    scaled = {d["spec"]["scaleTargetRef"]["name"] for d in docs if d["kind"] == "HorizontalPodAutoscaler"}
    assert scaled == {"hy-huiyuan-web", "hy-huiyuan-worker-default", "hy-huiyuan-worker-automation"}
    assert not any(d["kind"] == "Secret" for d in docs)  # an existing Secret is used, none created


def test_ingress_is_wildcard_for_saas_and_one_host_for_a_single_merchant() -> None:
    saas = next(d for d in render(INSTALL_SECRETS) if d["kind"] == "Ingress")
    assert [r["host"] for r in saas["spec"]["rules"]] == ["huiyuan.example.com", "*.huiyuan.example.com"]
    single = {**INSTALL_SECRETS, "singleTenant": {"enabled": True, "host": "vip.shop.cn"}}
    ingress = next(d for d in render(single) if d["kind"] == "Ingress")
    assert [r["host"] for r in ingress["spec"]["rules"]] == ["vip.shop.cn"]


def test_missing_secrets_and_bad_values_are_refused_with_their_names() -> None:
    with pytest.raises(helm_python.HelmError) as missing:
        render({})
    assert "secrets.secretKey" in str(missing.value)
    chart = helm_python.Chart.load(str(CHART))
    for bad in (
        {"workers": [{"name": "Bad Name!", "queues": "celery"}]},
        {"config": {"extraEnv": {"SECRET_KEY": "leak"}}},
        {"web": {"replicas": 0}},
    ):
        with pytest.raises(helm_python.HelmError):
            chart.validate_schema({**INSTALL_SECRETS, **bad})


def test_these_checks_fail_on_a_chart_with_a_probe_removed_or_a_broken_template(tmp_path: Path) -> None:
    broken = tmp_path / "huiyuan"
    shutil.copytree(CHART, broken)
    web = broken / "templates" / "deployment-web.yaml"
    text = web.read_text()
    start = text.index("          readinessProbe:")
    end = text.index("          resources:", start)
    web.write_text(text[:start] + text[end:])
    assert "hy-huiyuan-web: no readinessProbe" in problems(render(INSTALL_SECRETS, chart=broken))
    web.write_text(text.replace("{{ .Values.service.port }}", "{{ .Values.service.port"))
    with pytest.raises(helm_python.HelmError):
        render(INSTALL_SECRETS, chart=broken)
    web.write_text(text.replace("kind: Deployment", "kind: Deploymnet"))
    assert schema_errors(render(INSTALL_SECRETS, chart=broken))

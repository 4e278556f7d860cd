"""The Helm chart, linted, rendered and validated with the real tools (offline)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

helm = pytest.importorskip("helm_python")
kubernetes_validate = pytest.importorskip("kubernetes_validate")

CHART = Path(__file__).resolve().parents[2] / "helm" / "scoring-explainer"
KUBERNETES = "1.30.0"
EXAMPLES = sorted((CHART / "ci").glob("*.yaml"))


def render(values: dict | None = None) -> dict[str, list[dict]]:
    """Rendered manifests by kind."""
    with helm.Chart.load(str(CHART)) as chart:
        files = chart.render(values or {}, name="demo", namespace="scoring")
    by_kind: dict[str, list[dict]] = {}
    for path, text in files.items():
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                by_kind.setdefault(doc["kind"], []).append(doc)
    return by_kind


def _values(path: Path | None) -> dict:
    return yaml.safe_load(path.read_text()) if path else {}


def test_lint_strict():
    report = helm.lint(str(CHART), strict=True)
    assert report["errors"] == []
    assert not [m for m in report["messages"] if m["severity"] >= 3], report["messages"]
    for example in EXAMPLES:
        report = helm.lint(str(CHART), _values(example), strict=True)
        assert report["errors"] == [], example.name


@pytest.mark.parametrize("example", [None, *EXAMPLES], ids=lambda p: p.name if p else "default")
def test_every_manifest_validates(example):
    manifests = render(_values(example))
    checked = 0
    for kind, docs in manifests.items():
        for doc in docs:
            if kind == "ServiceMonitor":  # a CRD: no bundled schema
                assert doc["spec"]["endpoints"][0]["path"] == "/metrics"
                continue
            kubernetes_validate.validate(doc, KUBERNETES, strict=True)
            checked += 1
    assert checked >= 4


def test_default_deployment():
    manifests = render()
    assert set(manifests) == {
        "ConfigMap",
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    }
    pod = manifests["Deployment"][0]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    threads = next(e for e in container["env"] if e["name"] == "SCORING_ORT_THREADS")
    assert threads["valueFrom"]["resourceFieldRef"]["resource"] == "limits.cpu"
    assert pod["terminationGracePeriodSeconds"] == 40
    assert "replicas" not in manifests["Deployment"][0]["spec"]  # the HPA owns it
    config = manifests["ConfigMap"][0]["data"]
    assert config["SCORING_ARTIFACT"] == "/opt/artifact" and config["SCORING_HOST"] == "0.0.0.0"
    hpa = manifests["HorizontalPodAutoscaler"][0]
    assert hpa["apiVersion"] == "autoscaling/v2"


def test_pvc_and_init_container_examples():
    pvc = render(_values(CHART / "ci" / "pvc-values.yaml"))
    assert pvc["PersistentVolumeClaim"][0]["spec"]["resources"]["requests"]["storage"] == "2Gi"
    pod = pvc["Deployment"][0]["spec"]["template"]["spec"]
    assert pod["volumes"][1]["persistentVolumeClaim"]["readOnly"] is True
    assert pvc["Deployment"][0]["spec"]["replicas"] == 3
    init = render(_values(CHART / "ci" / "init-container-values.yaml"))
    pod = init["Deployment"][0]["spec"]["template"]["spec"]
    assert pod["initContainers"][0]["volumeMounts"][0]["mountPath"] == "/artifact"
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert env["SCORING_API_KEY"]["valueFrom"]["secretKeyRef"]["key"] == "api-key"
    assert "Secret" in init and "ServiceMonitor" in init


@pytest.mark.parametrize(
    "values",
    [
        {"artifact": {"source": "s3"}},
        {"replicaCount": 0},
        {"settings": {"maxRows": -5}},
        {"service": {"port": 70000}},
        {"image": {"tag": ""}},
        {"settings": {"logLevel": "loud"}},
    ],
)
def test_bad_values_fail_the_schema(values):
    with pytest.raises(helm.HelmValuesError):
        render(values)


def test_missing_required_values_fail_at_render():
    with pytest.raises(helm.HelmRenderError, match="apiKey.value is required"):
        render({"apiKey": {"enabled": True}})
    with pytest.raises(helm.HelmRenderError, match="initContainer.image is required"):
        render({"artifact": {"source": "initContainer"}})


def test_store_is_off_by_default():
    manifests = render()
    assert manifests["ConfigMap"][0]["data"]["SCORING_STORE_PATH"] == ""
    assert "PersistentVolumeClaim" not in manifests


def test_store_on_sqlite_gets_a_volume():
    manifests = render(_values(CHART / "ci" / "store-sqlite-values.yaml"))
    [claim] = manifests["PersistentVolumeClaim"]
    assert claim["metadata"]["name"] == "demo-scoring-explainer-store"
    assert claim["spec"]["resources"]["requests"]["storage"] == "5Gi"
    assert claim["spec"]["storageClassName"] == "standard"
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    deployment = manifests["Deployment"][0]["spec"]
    assert deployment["strategy"]["type"] == "Recreate" and deployment["replicas"] == 1
    pod = deployment["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v["name"] == "store")
    assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "store")
    assert mount["mountPath"] == "/data" and not mount.get("readOnly")
    config = manifests["ConfigMap"][0]["data"]
    assert config["SCORING_STORE_PATH"] == "/data/explanations.sqlite3"
    assert config["SCORING_STORE_MAX_BYTES"] == "67108864"


def test_store_on_postgres_reads_the_url_from_a_secret():
    manifests = render(_values(CHART / "ci" / "store-postgres-values.yaml"))
    assert "PersistentVolumeClaim" not in manifests
    pod = manifests["Deployment"][0]["spec"]["template"]["spec"]
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    ref = env["SCORING_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "explanations-db", "key": "database-url"}
    assert manifests["ConfigMap"][0]["data"]["SCORING_STORE_PATH"] == ""
    assert "HorizontalPodAutoscaler" in manifests  # several replicas share PostgreSQL


def test_sqlite_store_refuses_several_replicas():
    with pytest.raises(helm.HelmRenderError, match="SQLite serves one replica"):
        render({"store": {"enabled": True}})

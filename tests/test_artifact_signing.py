"""Signed artifacts: the keygen/sign/verify command line, ``load(trusted_keys=...)`` and the
service's SCORING_TRUSTED_KEYS refuse unsigned, wrongly signed and changed artifacts."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest

from scoring_explainers import ArtifactError
from scoring_explainers.scoring import load, save
from tests.test_artifact_security import ROW, _Server

REPO = Path(__file__).resolve().parents[1]


def _env() -> dict[str, str]:
    path = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path}


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scoring_explainers.artifact", *map(str, args)],
        capture_output=True, text=True, timeout=120, env=_env(),
    )  # fmt: skip


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("keys")
    done = cli("keygen", "--out", root / "ours")
    assert done.returncode == 0, done.stderr
    other = cli("keygen", "--out", root / "theirs")
    assert other.returncode == 0, other.stderr
    return {
        "private": root / "ours" / "signing.key",
        "public": root / "ours" / "signing.pub",
        "other_private": root / "theirs" / "signing.key",
        "other_public": root / "theirs" / "signing.pub",
        "keygen_output": done.stdout,
    }


@pytest.fixture(scope="module")
def ridge(small_regression):
    from sklearn.linear_model import Ridge

    from scoring_explainers.scoring import LinearScoringExplainer

    X, y = small_regression
    return LinearScoringExplainer.from_model(Ridge().fit(X, y), X), X


@pytest.fixture
def signed(ridge, keys, tmp_path) -> Path:
    root = save(ridge[0], tmp_path / "artifact")
    done = cli("sign", root, "--key", keys["private"])
    assert done.returncode == 0, done.stderr
    return root


def _key_id(public: Path) -> str:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_public_key(public.read_bytes())
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def test_keygen_writes_a_private_key_only_its_owner_reads_and_a_public_pem(keys):
    private, public = keys["private"], keys["public"]
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert private.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert public.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    assert f"key id {_key_id(public)}" in keys["keygen_output"]
    again = cli("keygen", "--out", private.parent)
    assert again.returncode == 1 and "already exists; not overwriting a key" in again.stderr


def test_sign_verify_round_trip(signed, keys, ridge):
    signature = (signed / "manifest.json.sig").read_text()
    scheme, kid, encoded = signature.split()
    assert (scheme, kid) == ("ed25519", _key_id(keys["public"]))
    done = cli("verify", signed, "--public-key", keys["public"])
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"OK: {signed} is signed by trusted key {kid}")
    # the signature is an Ed25519 signature of the manifest's exact bytes
    from cryptography.hazmat.primitives import serialization

    public = serialization.load_pem_public_key(keys["public"].read_bytes())
    import base64

    public.verify(base64.b64decode(encoded), (signed / "manifest.json").read_bytes())
    explainer, X = ridge
    for trusted in ([keys["public"]], [str(keys["public"])], [keys["public"].read_bytes()]):
        restored = load(signed, trusted_keys=trusted)
        np.testing.assert_array_equal(restored.explain(X[:5]), explainer.explain(X[:5]))
    # several trusted keys: any one of them will do
    load(signed, trusted_keys=[keys["other_public"], keys["public"]])


def test_a_manifest_changed_after_signing_is_refused(signed, keys):
    manifest = json.loads((signed / "manifest.json").read_text())
    manifest["expected_values"] = [manifest["expected_values"][0] + 1.0]
    (signed / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    message = (
        f"manifest.json.sig: the signature does not match manifest.json: the manifest (or the "
        f"signature) changed after key {_key_id(keys['public'])} signed it; refused"
    )
    with pytest.raises(ArtifactError) as error:
        load(signed, trusted_keys=[keys["public"]])
    assert str(error.value) == message
    done = cli("verify", signed, "--public-key", keys["public"])
    assert done.returncode == 1 and done.stderr.strip() == f"verify refused: {message}"
    load(signed)  # without keys only the hashes are checked: the change is not seen


def test_a_changed_model_is_refused_even_with_its_hash_updated(signed, keys):
    model = bytearray((signed / "model.onnx").read_bytes())
    model[len(model) // 2] ^= 0x01
    (signed / "model.onnx").write_bytes(bytes(model))
    with pytest.raises(ArtifactError, match="^model.onnx: SHA-256 mismatch"):
        load(signed, trusted_keys=[keys["public"]])
    done = cli("verify", signed, "--public-key", keys["public"])
    assert done.returncode == 1 and "model.onnx: SHA-256 mismatch" in done.stderr
    # re-hashing the file into the manifest breaks the signature instead
    manifest = json.loads((signed / "manifest.json").read_text())
    manifest["files"]["model.onnx"] = hashlib.sha256(bytes(model)).hexdigest()
    (signed / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="^manifest.json.sig: the signature does not match"):
        load(signed, trusted_keys=[keys["public"]])


def test_unsigned_is_refused_when_keys_are_given(ridge, keys, tmp_path):
    root = save(ridge[0], tmp_path / "unsigned")
    with pytest.raises(ArtifactError) as error:
        load(root, trusted_keys=[keys["public"]])
    assert str(error.value) == (
        "manifest.json.sig: missing: the artifact is not signed, and trusted keys are set"
    )
    done = cli("verify", root, "--public-key", keys["public"])
    assert done.returncode == 1 and "is not signed" in done.stderr
    with pytest.raises(ArtifactError, match="no trusted key was given"):
        load(root, trusted_keys=[])


def test_a_signature_by_another_key_is_refused(signed, keys):
    ours, theirs = _key_id(keys["public"]), _key_id(keys["other_public"])
    with pytest.raises(ArtifactError) as error:
        load(signed, trusted_keys=[keys["other_public"]])
    assert str(error.value) == (
        f"manifest.json.sig: the signature names key {ours}, which is not trusted "
        f"(trusted: {theirs}); refused"
    )
    # re-signed by someone else's key: refused by the key the service trusts
    assert cli("sign", signed, "--key", keys["other_private"]).returncode == 0
    with pytest.raises(ArtifactError, match=f"names key {theirs}, which is not trusted"):
        load(signed, trusted_keys=[keys["public"]])


@pytest.mark.parametrize(
    "content",
    [b"", b"ed25519 abc", b"ed25519 abc !!!notbase64", b"rsa abc AAAA", b"\xff\xfe"],
    ids=["empty", "short", "not base64", "other scheme", "not ascii"],
)
def test_a_malformed_signature_is_refused(signed, keys, content):
    (signed / "manifest.json.sig").write_bytes(content)
    with pytest.raises(ArtifactError, match="^manifest.json.sig: (malformed|not an Ed25519)"):
        load(signed, trusted_keys=[keys["public"]])


def test_a_symlinked_signature_is_refused(signed, keys, tmp_path):
    (signed / "manifest.json.sig").rename(tmp_path / "sig")
    (signed / "manifest.json.sig").symlink_to(tmp_path / "sig")
    with pytest.raises(ArtifactError, match="^manifest.json.sig: is a symbolic link"):
        load(signed, trusted_keys=[keys["public"]])


def test_each_file_is_read_once_so_the_verified_bytes_are_the_parsed_bytes(
    signed, keys, monkeypatch
):
    from scoring_explainers.runtime._artifact_files import ArtifactDirectory

    reads: list[str] = []
    original = ArtifactDirectory.read

    def counting(self, name, **kwargs):
        reads.append(name)
        return original(self, name, **kwargs)

    monkeypatch.setattr(ArtifactDirectory, "read", counting)
    load(signed, trusted_keys=[keys["public"]])
    assert sorted(reads) == ["arrays.npz", "manifest.json", "manifest.json.sig", "model.onnx"]


def test_usage_errors_exit_2_and_bad_keys_exit_1(signed, keys, tmp_path):
    assert cli("sign", signed).returncode == 2  # --key missing
    assert cli("verify", signed).returncode == 2  # --public-key missing
    assert cli("frobnicate").returncode == 2
    done = cli("verify", signed, "--public-key", tmp_path / "nothing.pub")
    assert done.returncode == 1 and "cannot read the trusted key" in done.stderr
    done = cli("sign", signed, "--key", keys["public"])  # a public key is no private key
    assert done.returncode == 1 and "not an unencrypted PEM private key" in done.stderr
    done = cli("verify", signed, "--public-key", keys["private"])
    assert done.returncode == 1 and "not a PEM or DER public key" in done.stderr


def test_a_missing_cryptography_package_is_a_clear_error(signed, keys):
    script = f"""
import sys
sys.modules["cryptography"] = None  # as if not installed
from scoring_explainers.runtime._artifact_cli import main
from scoring_explainers.scoring import load
try:
    load({str(signed)!r}, trusted_keys=[{str(keys["public"])!r}])
except ImportError as exc:
    print("load:", exc)
load({str(signed)!r})  # unsigned loading does not need it
sys.exit(main(["verify", {str(signed)!r}, "--public-key", {str(keys["public"])!r}]))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=_env()
    )
    hint = "needs the 'cryptography' package: pip install 'scoring-explainers[signing]'"
    assert done.returncode == 1
    assert f"load: signing and verifying artifacts {hint}" in done.stdout
    assert f"verify failed: signing and verifying artifacts {hint}" in done.stderr


def test_loading_imports_neither_onnx_nor_cryptography_unless_verifying(signed, keys):
    script = f"""
import json, sys
from scoring_explainers.scoring import load
load({str(signed)!r})
heavy = ("onnx", "cryptography", "shap", "sklearn", "pandas")
plain = sorted(m for m in heavy if m in sys.modules)
load({str(signed)!r}, trusted_keys=[{str(keys["public"])!r}])
verifying = sorted(m for m in heavy if m in sys.modules)
print(json.dumps([plain, verifying]))
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True, text=True, timeout=120, check=True, env=_env(),
    )  # fmt: skip
    assert json.loads(done.stdout) == [[], ["cryptography"]]


def test_the_service_loads_only_what_a_trusted_key_signed(signed, ridge, keys, tmp_path):
    explainer, X = ridge
    env = {"SCORING_TRUSTED_KEYS": f"{keys['other_public']}, {keys['public']}"}
    (tmp_path / "a").mkdir()
    server = _Server(signed, tmp_path / "a", env)
    try:
        assert httpx.get(server.url + "/readyz", timeout=10).status_code == 200
        body = httpx.post(server.url + "/score", json={"data": X[:2].tolist()}, timeout=10).json()
        np.testing.assert_allclose(body["local_importance_values"], explainer.explain(X[:2]))
    finally:
        server.stop()
    manifest = json.loads((signed / "manifest.json").read_text())
    manifest["expected_values"] = [0.0]
    (signed / "manifest.json").write_text(json.dumps(manifest))
    (tmp_path / "b").mkdir()
    server = _Server(signed, tmp_path / "b", env)
    try:
        ready = httpx.get(server.url + "/readyz", timeout=10)
        assert ready.status_code == 503
        assert (
            "manifest.json.sig: the signature does not match manifest.json"
            in (ready.json()["error"])
        )
        assert httpx.post(server.url + "/score", json=ROW, timeout=10).status_code == 503
        assert "the signature does not match manifest.json" in server.log.read_text()
    finally:
        server.stop()


def test_the_chart_mounts_the_public_key_and_sets_trusted_keys(keys):
    helm = pytest.importorskip("helm_python")
    import yaml

    chart = REPO / "helm" / "scoring-explainer"

    def render(values: dict) -> dict[str, list[dict]]:
        with helm.Chart.load(str(chart)) as loaded:
            files = loaded.render(values, name="demo", namespace="scoring")
        by_kind: dict[str, list[dict]] = {}
        for path, text in files.items():
            if not path.endswith("NOTES.txt"):
                for doc in yaml.safe_load_all(text):
                    if doc:
                        by_kind.setdefault(doc["kind"], []).append(doc)
        return by_kind

    pem = keys["public"].read_text()
    manifests = render({"signing": {"enabled": True, "publicKey": pem}})
    config, trusted = manifests["ConfigMap"]
    assert config["data"]["SCORING_TRUSTED_KEYS"] == "/etc/scoring/trusted-keys/signing.pub"
    assert config["data"]["SCORING_ALLOW_LOOP"] == "false"
    assert trusted["data"] == {"signing.pub": pem}
    pod = manifests["Deployment"][0]["spec"]["template"]["spec"]
    mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "trusted-keys")
    assert mount == {
        "name": "trusted-keys",
        "mountPath": "/etc/scoring/trusted-keys",
        "readOnly": True,
    }
    volume = next(v for v in pod["volumes"] if v["name"] == "trusted-keys")
    assert volume["configMap"]["name"] == trusted["metadata"]["name"]
    from_secret = render({"signing": {"enabled": True, "existingSecret": "artifact-keys"}})
    assert len(from_secret["ConfigMap"]) == 1
    pod = from_secret["Deployment"][0]["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v["name"] == "trusted-keys")
    assert volume["secret"]["secretName"] == "artifact-keys"
    off = render({"settings": {"allowLoop": True}})
    assert off["ConfigMap"][0]["data"]["SCORING_TRUSTED_KEYS"] == ""
    assert off["ConfigMap"][0]["data"]["SCORING_ALLOW_LOOP"] == "true"
    with pytest.raises(helm.HelmRenderError, match="signing.enabled needs signing.publicKey"):
        render({"signing": {"enabled": True}})
    # what the chart sets, the service reads
    from service.settings import Settings

    settings = Settings.from_env(off["ConfigMap"][0]["data"] | config["data"])
    assert settings.trusted_key_paths == ["/etc/scoring/trusted-keys/signing.pub"]
    assert settings.allow_loop is False
    assert Settings.from_env({"SCORING_ALLOW_LOOP": "true"}).allow_loop is True
    with pytest.raises(ValueError, match="SCORING_ALLOW_LOOP must be true or false"):
        Settings.from_env({"SCORING_ALLOW_LOOP": "maybe"})

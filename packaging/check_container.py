"""Check a running scoring-explainers container (used by packaging/image-test.sh)."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime

import httpx
import numpy as np

from scoring_explainers.scoring import load

PODMAN = ["podman", "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--runtime", "runc"]


def podman(*args: str) -> str:
    return subprocess.run(
        [*PODMAN, *args], capture_output=True, text=True, check=True, env=os.environ
    ).stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--artifact", required=True)
    parser.add_argument("--started", type=float, required=True)
    parser.add_argument("--image", required=True)
    parser.add_argument("--container", required=True)
    parser.add_argument("--base", help="the base image, to tell our layers' size")
    args = parser.parse_args()

    deadline = time.time() + 60
    while True:
        try:
            if httpx.get(args.url + "/readyz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.time() > deadline:
            print(podman("logs", args.container), file=sys.stderr)
            raise SystemExit("container not ready within 60 s")
        time.sleep(0.05)
    ready_at = time.time()
    ready_after = ready_at - args.started
    started = podman("inspect", "--format", "{{.State.StartedAt}}", args.container)
    stamp = re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(\.\d+)?", started)
    assert stamp, started
    start_time = datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    since_process = ready_at - start_time.timestamp() - float(stamp.group(2) or 0)

    rows = load(args.artifact).background_[:3]  # type: ignore[attr-defined]
    response = httpx.post(
        args.url + "/score",
        content=json.dumps({"data": rows.tolist()}),
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    want = load(args.artifact).score(rows)
    np.testing.assert_allclose(
        np.array(body["local_importance_values"]), want.local_importance_values, atol=1e-9
    )
    assert body["predictions"] == want.predictions.tolist()

    # the explanation store works out of the box (SQLite under /data, writable by the user)
    # and the dashboard's files are in the image
    from scoring_explainers.explanation import global_from_local

    explanation = global_from_local(
        want.local_importance_values,
        model_task="classification" if want.probabilities is not None else "regression",
        features=want.features,
        classes=want.classes,
        method=f"shap.{want.method}",
    )
    upload = httpx.post(
        args.url + "/explanations/container-check",
        json={"explanation": explanation.to_dict()},
        timeout=30,
    )
    assert upload.status_code == 201, upload.text
    latest = httpx.get(args.url + "/explanations/container-check/latest", timeout=30)
    assert latest.status_code == 200, latest.text
    stored = latest.json()["explanation"]
    assert stored["global_importance_values"] == explanation.global_importance_values
    page = httpx.get(args.url + "/dashboard", timeout=30)
    assert page.status_code == 200 and "<script" in page.text, page.status_code

    uid = podman("exec", args.container, "python", "-c", "import os; print(os.getuid())")
    assert uid == "10001", f"runs as uid {uid}"
    heavy = podman(
        "exec",
        args.container,
        "python",
        "-c",
        "import importlib.util as u; print([m for m in ('sklearn', 'shap', 'scipy',"
        " 'pandas', 'lightgbm', 'xgboost') if u.find_spec(m)])",
    )
    assert heavy == "[]", f"runtime image holds {heavy}"
    size = int(podman("image", "inspect", "--format", "{{.Size}}", args.image))
    base = int(podman("image", "inspect", "--format", "{{.Size}}", args.base)) if args.base else 0
    print(
        f"container ready {since_process:.2f} s after its process started "
        f"({ready_after:.2f} s after `podman run`, which copies the image on vfs storage); "
        "/score matches the library; the store and /dashboard work; uid 10001; "
        "no shap/sklearn/scipy/pandas in the image"
    )
    print(
        f"image size {size / 2**20:.0f} MiB: base {base / 2**20:.0f} MiB + our layers "
        f"{(size - base) / 2**20:.0f} MiB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

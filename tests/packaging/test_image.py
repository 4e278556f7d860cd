"""The container image, built from the Dockerfile and run: ``packaging/image-test.sh``
(buildah builds it on a debootstrap stand-in base, podman runs it with the demo artifact
mounted, ``packaging/check_container.py`` checks /readyz, a /score answer equal to the
library's, the store, the dashboard, the user and the size)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ("buildah", "podman", "runc", "skopeo", "debootstrap")

pytestmark = [pytest.mark.container, pytest.mark.slow]


@pytest.mark.timeout(3600)
def test_the_image_builds_runs_and_answers(tmp_path):
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing and os.geteuid() != 0:
        pytest.skip(f"{', '.join(missing)} missing and not root to install them with apt-get")
    done = subprocess.run(
        ["bash", str(ROOT / "packaging" / "image-test.sh")],
        env={**os.environ, "PYTHON": sys.executable, "DEMO_ARTIFACT": str(tmp_path / "demo")},
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    assert "image built in" in done.stdout

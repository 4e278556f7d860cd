"""One version: ``scoring_explainers/_version.py``; every other copy derives from it or is
checked equal to it here."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

import scoring_explainers
from scoring_explainers._version import __version__

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "scoring-explainer"


def test_the_version_is_semver():
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__), __version__
    assert scoring_explainers.__version__ == __version__


def test_pyproject_reads_the_version_from_the_package():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"]
    assert project["project"]["dynamic"] == ["version"]
    attr = project["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert attr == "scoring_explainers._version.__version__"
    # what setuptools does at build time: read the attribute statically from the source file
    from setuptools.config.expand import read_attr

    assert read_attr(attr, root_dir=ROOT) == __version__


def test_helm_app_version_and_image_tag():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["appVersion"] == __version__
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["image"]["tag"] == __version__


def test_the_rendered_deployment_runs_this_version():
    helm = pytest.importorskip("helm_python")
    with helm.Chart.load(str(CHART)) as chart:
        files = chart.render({}, name="demo", namespace="scoring")
    deployments = [
        doc
        for path, text in files.items()
        if not path.endswith("NOTES.txt")
        for doc in yaml.safe_load_all(text)
        if doc and doc["kind"] == "Deployment"
    ]
    (deployment,) = deployments
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"scoring-explainers:{__version__}"


def test_readme_examples_name_this_version():
    readme = (ROOT / "README.md").read_text()
    tags = re.findall(r"scoring-explainers:(\d+\.\d+\.\d+)", readme)
    defaults = re.findall(r"`scoring-explainers`, `(\d+\.\d+\.\d+)`", readme)
    assert tags and defaults  # the Deploy section's build commands and the values table
    assert set(tags) | set(defaults) == {__version__}
    assert re.findall(r"image\.tag=(\d+\.\d+\.\d+)", readme) == [__version__]


def test_changelog_has_a_section_for_this_version():
    changelog = (ROOT / "CHANGELOG.md").read_text()
    releases = re.findall(r"^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d\d-\d\d$", changelog, re.M)
    assert releases and releases[0] == __version__  # the newest release is this one
    assert changelog.index("## [Unreleased]") < changelog.index(f"## [{__version__}]")

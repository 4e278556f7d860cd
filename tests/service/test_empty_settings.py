"""Empty ``SCORING_*`` variables: a value where empty means something, refused elsewhere."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from service.settings import Settings


def test_empty_store_path_is_the_store_off_and_unset_is_the_default():
    assert Settings.from_env({"SCORING_STORE_PATH": ""}).store_path == ""
    assert Settings.from_env({}).store_path == "data/explanations.sqlite3"


@pytest.mark.parametrize("name", ["API_KEY", "DATABASE_URL", "MODEL_NAME"])
def test_empty_is_the_empty_value_where_that_is_the_default(name):
    settings = Settings.from_env({f"SCORING_{name}": "", "SCORING_ARTIFACT": "models/churn"})
    assert getattr(settings, name.lower()) == ""
    assert settings.name == "churn"  # an empty model name is the directory's name


@pytest.mark.parametrize(
    ("name", "default"),
    [
        ("ARTIFACT", "'artifacts/demo'"),
        ("HOST", "'127.0.0.1'"),
        ("LOG_LEVEL", "'info'"),
        ("PORT", "8000"),
        ("MAX_ROWS", "1000"),
        ("STORE_MAX_BYTES", str(64 * 2**20)),
    ],
)
def test_empty_is_refused_where_it_means_nothing(name, default):
    with pytest.raises(ValueError) as info:
        Settings.from_env({f"SCORING_{name}": ""})
    assert str(info.value) == (
        f"SCORING_{name} is set but empty: unset it for the default ({default}) or give a value"
    )


def test_a_number_that_is_not_one_is_named():
    with pytest.raises(ValueError, match=r"^SCORING_MAX_ROWS must be an integer, got 'ten'$"):
        Settings.from_env({"SCORING_MAX_ROWS": "ten"})


def test_the_server_refuses_to_start_on_an_empty_number(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCORING_")}
    env["SCORING_MAX_BODY_BYTES"] = ""
    done = subprocess.run(
        [sys.executable, "-m", "service", "--artifact", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert done.returncode == 2
    assert (
        "error: SCORING_MAX_BODY_BYTES is set but empty: unset it for the default (10485760) "
        "or give a value"
    ) in done.stderr

"""The one place the version is written.

``pyproject.toml`` reads it (``dynamic = ["version"]``), artifacts record it in their manifest,
the service reports it; the Helm chart's ``appVersion``, the image tag in its values and the
README's examples are checked equal to it by ``tests/packaging/test_version.py``.
"""

__version__ = "0.1.0"

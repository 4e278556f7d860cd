"""Save, load and sign artifacts (the implementation is :mod:`scoring_explainers.runtime`).

``python -m scoring_explainers.artifact keygen --out DIR`` writes an Ed25519 key pair,
``... sign ARTIFACT --key PRIVATE`` signs an artifact's manifest and
``... verify ARTIFACT --public-key PUB`` checks it (see the README's Security section).
"""

from __future__ import annotations

import sys

from .runtime._artifact import FORMAT_VERSION, VerifiedArtifact, load, read_verified, save
from .runtime._artifact_cli import main

__all__ = ["FORMAT_VERSION", "VerifiedArtifact", "load", "main", "read_verified", "save"]

if __name__ == "__main__":
    sys.exit(main())

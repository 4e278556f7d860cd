"""The two tables that let the runtime name what it does not import.

**Kinds.** Every :class:`~scoring_explainers.runtime.ScoringExplainer` subclass that sets a
``kind`` class attribute adds itself here when it is defined (``__init_subclass__``), so the
artifact reader turns a manifest's ``kind`` into a class without importing the concrete
classes.

**Builders.** ``from_model`` and ``from_explainer`` stay on the scoring explainer classes
(typed, documented) as thin delegates, but their bodies are distill-side code: conversion
to ONNX, tree extraction, background summaries, scikit-learn. The distill package
(:data:`DISTILL_PACKAGE`) adds one builder per ``(kind, constructor)`` when it is imported;
the first time a delegate asks for a builder that is not here, the runtime imports that
package *by name* (:func:`importlib.import_module`) and looks again. So the dependency is a
plugin point, not an import edge: no runtime module imports the distill side, not even in
a function, the static import contracts (``lint-imports``) see no cycle, and loading and
scoring never import scikit-learn, shap or skl2onnx (only a call to ``from_model`` does).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from ._base import ScoringExplainer

__all__ = ["DISTILL_PACKAGE", "KINDS", "Constructor", "add_kind", "builder", "register_builder"]

#: The package that registers the builders (imported by name on first use).
DISTILL_PACKAGE = "scoring_explainers.distill"

Constructor = Literal["from_model", "from_explainer"]

#: Explainer kind (``manifest.json``'s ``kind``) -> class; filled by ``__init_subclass__``.
KINDS: dict[str, type[ScoringExplainer]] = {}
_BUILDERS: dict[tuple[str, Constructor], Callable[..., Any]] = {}


def add_kind(cls: type[ScoringExplainer]) -> None:
    """Record ``cls`` under ``cls.kind`` (one class per kind; a reloaded module replaces its
    own class)."""
    known = KINDS.get(cls.kind)
    if known is not None and (known.__module__, known.__qualname__) != (
        cls.__module__,
        cls.__qualname__,
    ):
        raise TypeError(
            f"kind {cls.kind!r} is already {known.__qualname__}'s; give {cls.__qualname__} "
            "its own kind"
        )
    KINDS[cls.kind] = cls


def register_builder(kind: str, constructor: Constructor, build: Callable[..., Any]) -> None:
    """Make ``build`` the body of ``<kind class>.<constructor>`` (called by the distill side).

    ``from_model`` builders are called as ``build(cls, model, initialization_examples,
    **options)``, ``from_explainer`` builders as ``build(explainer, X)``.
    """
    _BUILDERS[(kind, constructor)] = build


def builder(kind: str, constructor: Constructor) -> Callable[..., Any]:
    """The registered body of ``constructor`` for ``kind``, importing the distill side (by
    name) the first time one is asked for.

    Raises
    ------
    LookupError
        Nothing registers ``constructor`` for ``kind``.
    """
    found = _BUILDERS.get((kind, constructor))
    if found is None:
        importlib.import_module(DISTILL_PACKAGE)
        found = _BUILDERS.get((kind, constructor))
    if found is None:
        raise LookupError(f"no {constructor} builder for the {kind!r} scoring explainer")
    return found

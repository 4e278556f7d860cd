"""``KernelScoringExplainer.from_model``: background summary, coalition design, projection
and chunk tuning, fixed at distill time."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from ..runtime._kernel import KernelScoringExplainer
from ._chunks import CHUNK_CANDIDATES, TUNING_BUDGET, fastest_chunk
from ._design import auto_nsamples
from ._designs import DEFAULT_DESIGN, DESIGNS, make_design, stored_maps, training_games

__all__ = ["CHUNK_CANDIDATES", "TUNING_BUDGET", "from_model"]

_fastest_chunk = fastest_chunk


def _raw_pipeline(model: Any, X: Any, features: list[str] | None) -> tuple[Any, Any] | None:
    """``(final estimator, feature map of the leading steps)`` for a Pipeline given rows
    that are not all numeric (numeric rows keep the whole-Pipeline Kernel of before)."""
    steps = getattr(model, "steps", None)
    if not steps or len(steps) < 2:
        return None
    try:
        np.asarray(X, dtype=np.float64)
        return None
    except (TypeError, ValueError):
        pass
    from ..transformations import feature_map
    from ._prepare import resolve_features

    names = resolve_features(X, model, features)
    return steps[-1][1], feature_map(model[:-1], names)


def from_model(
    cls: type[KernelScoringExplainer],
    model: Any,
    initialization_examples: Any,
    *,
    features: list[str] | None,
    classes: list[Any] | None,
    nclusters: int | None,
    nsamples: int | Literal["auto"],
    random_state: int,
    max_features: int | None,
    background_weights: np.ndarray | None,
    allow_missing: bool | None,
    threads: int,
    max_synthetic_rows: int | Literal["auto"],
    require_onnx: bool,
    design: str = DEFAULT_DESIGN,
) -> KernelScoringExplainer:
    """The body of :meth:`KernelScoringExplainer.from_model` (parameters documented there)."""
    from ._background import summarize
    from ._prepare import check_fitted, prepare

    if design not in DESIGNS:
        raise ValueError(f"design must be one of {sorted(DESIGNS)}, got {design!r}")
    check_fitted(model)
    split = _raw_pipeline(model, initialization_examples, features)
    if split is not None:  # a Pipeline on non-numeric rows: the raw features are the players
        from ._raw_kernel import raw_kernel

        estimator, fmap = split
        return raw_kernel(
            estimator,
            initialization_examples,
            fmap,
            classes=classes,
            nclusters=nclusters,
            nsamples=nsamples,
            random_state=random_state,
            require_onnx=require_onnx,
            threads=threads,
            max_features=max_features,
            background_weights=background_weights,
            max_synthetic_rows=max_synthetic_rows,
            design=design,
        )
    prep = prepare(
        model,
        initialization_examples,
        features=features,
        classes=classes,
        threads=threads,
        require_onnx=require_onnx,
    )
    X = prep.X
    m = X.shape[1]
    rng = np.random.default_rng(random_state)
    background, weights = summarize(
        X, nclusters, random_state=random_state, sample_weight=background_weights
    )
    budget = auto_nsamples(m) if nsamples == "auto" else int(nsamples)
    if budget < m:
        raise ValueError(f"nsamples={budget} is too small for {m} features (need >= {m})")
    expected = weights @ prep.model.outputs(background)
    games = training_games(prep.model.outputs, X, background, weights, expected, random_state)
    chosen = make_design(design, m, budget, rng, games)
    # A Bayesian design's sub-designs' maps are not least squares: the runtime cannot
    # derive them, the artifact stores them.
    maps = stored_maps(chosen)
    if allow_missing is None:
        allow_missing = prep.probe_missing(background[0])
    if max_synthetic_rows == "auto":
        stream = np.where(
            chosen.masks[:, None, :],
            X[0].astype(np.float32),
            background.astype(np.float32)[None],
        ).reshape(-1, m)
        reps = -(-CHUNK_CANDIDATES[-1] // len(stream))
        max_synthetic_rows = _fastest_chunk(prep.model, np.tile(stream, (reps, 1)))
    return cls(
        model=prep.model,
        background=background,
        background_weights=weights,
        masks=chosen.masks,
        coalition_weights=chosen.weights,
        coalition_units=chosen.units,
        exact=chosen.exact,
        projection_matrix=chosen.P,
        constraint=chosen.q,
        **maps,
        max_synthetic_rows=max_synthetic_rows,
        max_features=max_features,
        features=prep.features,
        classes=prep.classes,
        output_space="probability" if prep.task == "classification" else "raw",
        expected_values=expected,
        allow_missing=allow_missing,
        metadata={
            **prep.metadata,
            "nclusters": nclusters,
            "nsamples": budget,
            "random_state": random_state,
            "design": design,
            **({"design_prior": list(chosen.prior)} if chosen.prior else {}),
            **({"design_note": chosen.note} if chosen.note else {}),
        },
    )

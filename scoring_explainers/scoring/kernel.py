"""KernelScoringExplainer: model-agnostic Kernel SHAP, vectorised, on onnxruntime."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np

from ._base import ScoringExplainer
from ._design import CoalitionDesign, auto_nsamples, coalition_design, projection
from ._onnx_model import OnnxModel

__all__ = ["KernelScoringExplainer"]

#: Synthetic rows evaluated per onnxruntime call; bounds memory for any batch size.
DEFAULT_MAX_SYNTHETIC_ROWS = 65_536


class KernelScoringExplainer(ScoringExplainer):
    """Kernel SHAP with a design fixed at distill time.

    The background (a weighted k-means summary), the coalitions and the constrained
    weighted least-squares projection are fixed when the explainer is made, so at run time
    a batch of rows becomes one tensor of synthetic rows evaluated by onnxruntime in
    bounded chunks, and the attributions are one matrix product. The same row always gets
    the same values, whatever else is in the batch, and ``explain`` never writes to
    ``self`` (safe to share between threads).

    Attributions are in the space of the model's output: class probabilities for
    classifiers (``output_space="probability"``), the prediction for regressors
    (``"raw"``). Make one with :meth:`from_model` or :func:`scoring_explainers.scoring.load`.
    """

    kind: ClassVar[str] = "kernel"

    def __init__(
        self,
        *,
        model: OnnxModel,
        background: np.ndarray,
        background_weights: np.ndarray,
        masks: np.ndarray,
        coalition_weights: np.ndarray,
        exact: bool,
        projection_matrix: np.ndarray | None = None,
        constraint: np.ndarray | None = None,
        max_synthetic_rows: int = DEFAULT_MAX_SYNTHETIC_ROWS,
        **common: Any,
    ) -> None:
        super().__init__(model=model, **common)
        self.background_ = np.asarray(background, dtype=np.float64)
        self.background_weights_ = np.asarray(background_weights, dtype=np.float64)
        self.masks_ = np.asarray(masks, dtype=bool)
        self.coalition_weights_ = np.asarray(coalition_weights, dtype=np.float64)
        self.exact_ = bool(exact)
        self.max_synthetic_rows = int(max_synthetic_rows)
        if projection_matrix is None or constraint is None:
            projection_matrix, constraint = projection(
                CoalitionDesign(self.masks_, self.coalition_weights_, self.exact_)
            )
        self.projection_ = np.asarray(projection_matrix, dtype=np.float64)
        self.constraint_ = np.asarray(constraint, dtype=np.float64)
        self._background32 = self.background_.astype(np.float32)

    # -- distill ----------------------------------------------------------------------
    @classmethod
    def from_model(
        cls,
        model: Any,
        initialization_examples: Any,
        *,
        features: list[str] | None = None,
        classes: list[Any] | None = None,
        nclusters: int | None = 10,
        nsamples: int | Literal["auto"] = "auto",
        random_state: int = 0,
        background_weights: np.ndarray | None = None,
        allow_missing: bool | None = None,
        threads: int = 1,
        max_synthetic_rows: int = DEFAULT_MAX_SYNTHETIC_ROWS,
    ) -> KernelScoringExplainer:
        """Distill a Kernel scoring explainer from a fitted model.

        Parameters
        ----------
        model : fitted scikit-learn estimator or Pipeline, LightGBM/XGBoost model, or ONNX
            model (path, bytes or ``onnx.ModelProto``); converted once with
            :func:`scoring_explainers.convert.to_onnx`.
        initialization_examples : array-like of shape (n_rows, n_features) or DataFrame
            Data the background is summarised from (typically the training set).
        features : list of str, optional
            Feature names; default: DataFrame columns, the model's ``feature_names_in_``,
            else ``feature_0`` ...
        classes : list, optional
            Class names to report instead of the model's labels (same order).
        nclusters : int or None, default=10
            Background size: weighted k-means summary (centres snapped to observed values,
            weights = cluster shares). ``None`` keeps every row with equal weights.
        nsamples : int or "auto", default="auto"
            Coalitions per row. ``"auto"`` = ``2 * M + 2048`` as in shap. With
            ``2**M - 2 <= nsamples`` every coalition is enumerated and the values are exact
            Shapley values with respect to the background.
        random_state : int, default=0
            Seeds k-means and the sampled part of the coalition design.
        background_weights : array-like of shape (n_rows,), optional
            Row weights of ``initialization_examples`` (e.g. a summary made elsewhere,
            with ``nclusters=None``).
        allow_missing : bool, optional
            Accept NaN inputs. Default: probe the model (allowed when it gives finite
            outputs for rows with a missing value in any feature).
        threads : int, default=1
            onnxruntime intra-op threads.
        max_synthetic_rows : int, default=65536
            Synthetic rows per model call (memory bound).
        """
        from .._background import summarize
        from ._distill import prepare

        prep = prepare(model, initialization_examples, features=features, classes=classes,
                       threads=threads)
        X = prep.X
        m = X.shape[1]
        rng = np.random.default_rng(random_state)
        background, weights = summarize(
            X, nclusters, random_state=random_state, sample_weight=background_weights
        )
        budget = auto_nsamples(m) if nsamples == "auto" else int(nsamples)
        if budget < m:
            raise ValueError(f"nsamples={budget} is too small for {m} features (need >= {m})")
        design = coalition_design(m, budget, rng)
        expected = weights @ prep.model.outputs(background)
        if allow_missing is None:
            allow_missing = prep.probe_missing(background[0])
        return cls(
            model=prep.model,
            background=background,
            background_weights=weights,
            masks=design.masks,
            coalition_weights=design.weights,
            exact=design.exact,
            max_synthetic_rows=max_synthetic_rows,
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
            },
        )

    # -- run time ---------------------------------------------------------------------
    @property
    def n_coalitions(self) -> int:
        return int(self.masks_.shape[0])

    def _coalition_values(self, X32: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """v(z) for rows X32 (r, M) and coalitions masks (s, M): shape (r, s, K)."""
        background = self._background32
        r, m = X32.shape
        s, b = masks.shape[0], background.shape[0]
        synthetic = np.where(masks[None, :, None, :], X32[:, None, None, :], background[None, None])
        out = self._model.outputs(synthetic.reshape(r * s * b, m))
        k = out.shape[1]
        # Weighted mean over the background, per (row, coalition, output).
        return np.matmul(self.background_weights_, out.reshape(r * s, b, k)).reshape(r, s, k)

    def _attribute(self, X: np.ndarray, outputs: np.ndarray | None) -> np.ndarray:
        if outputs is None:
            outputs = self._model.outputs(X)
        X32 = X.astype(np.float32)
        n, m = X.shape
        s, b = self.masks_.shape[0], self.background_.shape[0]
        k = outputs.shape[1]
        expected = self._expected_values
        values = np.empty((n, m, k))
        per_row = s * b
        if per_row <= self.max_synthetic_rows:
            step = max(1, self.max_synthetic_rows // per_row)
            for start in range(0, n, step):
                stop = min(n, start + step)
                v = self._coalition_values(X32[start:stop], self.masks_)
                values[start:stop] = self._project(v - expected, outputs[start:stop] - expected)
        else:
            step = max(1, self.max_synthetic_rows // b)
            for i in range(n):
                v = np.concatenate([
                    self._coalition_values(X32[i : i + 1], self.masks_[c : c + step])
                    for c in range(0, s, step)
                ], axis=1)
                values[i : i + 1] = self._project(v - expected, outputs[i : i + 1] - expected)
        return values

    def _project(self, y: np.ndarray, delta: np.ndarray) -> np.ndarray:
        """phi = P y + q delta for y (r, S, K), delta (r, K): shape (r, M, K).

        ``matmul`` over the stacked rows runs the same product for every row, so a row's
        values do not depend on the rest of the batch.
        """
        return np.matmul(self.projection_, y) + self.constraint_[None, :, None] * delta[:, None, :]

    # -- persistence ------------------------------------------------------------------
    def _arrays(self) -> dict[str, np.ndarray]:
        return {
            "background": self.background_,
            "background_weights": self.background_weights_,
            "masks": self.masks_,
            "coalition_weights": self.coalition_weights_,
            "projection": self.projection_,
            "constraint": self.constraint_,
        }

    def _settings(self) -> dict[str, Any]:
        return {"exact": self.exact_, "max_synthetic_rows": self.max_synthetic_rows}

    @classmethod
    def _array_shapes(cls, settings: dict[str, Any], n_features: int,
                      n_outputs: int) -> dict[str, tuple[int | None, ...]]:
        return {
            "background": (None, n_features),
            "background_weights": (None,),
            "masks": (None, n_features),
            "coalition_weights": (None,),
            "projection": (n_features, None),
            "constraint": (n_features,),
        }

    @classmethod
    def _restore(cls, *, arrays: dict[str, np.ndarray], settings: dict[str, Any],
                 common: dict[str, Any]) -> KernelScoringExplainer:
        if len(arrays["background"]) != len(arrays["background_weights"]):
            raise ValueError("background and background_weights differ in length")
        n_coalitions = len(arrays["masks"])
        if len(arrays["coalition_weights"]) != n_coalitions:
            raise ValueError("masks and coalition_weights differ in length")
        if arrays["projection"].shape[1] != n_coalitions:
            raise ValueError("projection does not match the number of coalitions")
        return cls(
            background=arrays["background"],
            background_weights=arrays["background_weights"],
            masks=arrays["masks"],
            coalition_weights=arrays["coalition_weights"],
            projection_matrix=arrays["projection"],
            constraint=arrays["constraint"],
            exact=bool(settings.get("exact", False)),
            max_synthetic_rows=int(settings.get("max_synthetic_rows", DEFAULT_MAX_SYNTHETIC_ROWS)),
            **common,
        )

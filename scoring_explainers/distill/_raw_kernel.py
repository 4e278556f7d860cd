"""Kernel SHAP with the raw features as players (distill side).

The players are the raw columns: a coalition keeps a raw column's value or takes the
background row's, and the synthetic rows go through the preprocessing and the model, so the
values are the Shapley values of the raw game (exact when every coalition is enumerated),
over fewer players than engineered columns. The synthetic rows are built in code space
(:mod:`~scoring_explainers.distill._raw`): the model the Kernel engine calls is the
preprocessing graph followed by the model, merged into one ONNX graph (or, for a model
that does not convert, the graph followed by the model called in Python).
"""

from __future__ import annotations

import warnings
from typing import Any, Literal

import numpy as np

from .._errors import ConversionError, InputError
from ..runtime._kernel import KernelScoringExplainer
from ..runtime._onnx_model import OnnxModel, OnnxTransform, Task
from ..transformations import FeatureMap
from ._designs import DEFAULT_DESIGN
from ._raw import STRING_SENTINELS, infer_columns, probe_rows, raw_frame, transformed

__all__ = ["ComposedModel", "compose_graphs", "raw_kernel"]


def compose_graphs(preprocess: bytes, model: bytes) -> bytes:
    """One graph: ``preprocess`` (codes -> engineered) then ``model`` (engineered ->
    outputs), the model's input fed from the preprocessing's output (cast to its type)."""
    import onnx
    from onnx import helper

    pre = onnx.load_from_string(preprocess)
    main = onnx.load_from_string(model)
    main = onnx.compose.add_prefix(main, "model_")
    (model_input,) = main.graph.input
    (pre_output,) = pre.graph.output
    elem = model_input.type.tensor_type.elem_type
    nodes = [
        *list(pre.graph.node),
        helper.make_node("Cast", [pre_output.name], [model_input.name], to=elem),
    ]
    nodes += list(main.graph.node)
    # the outputs keep the names the runtime looks for
    renames = {o.name: o.name[len("model_") :] for o in main.graph.output}
    for node in nodes:
        node.output[:] = [renames.get(o, o) for o in node.output]
        node.input[:] = [renames.get(i, i) for i in node.input]
    outputs = []
    for o in main.graph.output:
        o.name = renames[o.name]
        outputs.append(o)
    graph = helper.make_graph(
        nodes,
        "raw_model",
        list(pre.graph.input),
        outputs,
        initializer=list(pre.graph.initializer) + list(main.graph.initializer),
    )
    versions: dict[str, int] = {}
    for item in list(pre.opset_import) + list(main.opset_import):
        versions[item.domain] = max(versions.get(item.domain, 0), item.version)
    merged = helper.make_model(
        graph, opset_imports=[helper.make_opsetid(d, v) for d, v in versions.items()]
    )
    merged.ir_version = max(pre.ir_version, main.ir_version)
    onnx.checker.check_model(merged)
    return bytes(merged.SerializeToString())


class ComposedModel:
    """The preprocessing graph followed by a model called in Python (``PythonModel``),
    with :class:`OnnxModel`'s interface; explains in-process, cannot be saved."""

    model_bytes = None
    threads = 1

    def __init__(self, preprocess: OnnxTransform, model: Any, *, n_features: int) -> None:
        self._preprocess = preprocess
        self._model = model
        self.task: Task = model.task
        self.n_features = n_features
        self.conversion_error = model.conversion_error

    def outputs(self, X: np.ndarray) -> np.ndarray:
        """Outputs of the codes ``X`` (n_rows, n_raw): float64 (n_rows, n_outputs)."""
        return np.asarray(self._model.outputs(self._preprocess.transform(X)))

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        labels, outputs = self._model.predict(self._preprocess.transform(X))
        return labels, outputs


def raw_kernel(
    model: Any,
    raw_examples: Any,
    fmap: FeatureMap,
    *,
    classes: list[Any] | None,
    nclusters: int | None,
    nsamples: int | Literal["auto"],
    random_state: int,
    require_onnx: bool,
    threads: int = 1,
    max_features: int | None = None,
    background_weights: np.ndarray | None = None,
    max_synthetic_rows: int | Literal["auto"] = "auto",
    masking: Literal["auto", "engineered", "raw"] = "auto",
    design: str = DEFAULT_DESIGN,
) -> KernelScoringExplainer:
    """A Kernel engine over the raw columns of ``raw_examples`` for ``model`` (which takes
    ``fmap.transform`` of them).

    The engine takes raw rows (encoded through its ``schema``), reports the raw features
    as its features (``metadata["players"] == "raw"``). The background is
    :func:`~._background.summarize_rows` of the engineered rows: real rows.

    ``masking``: ``"engineered"`` masks a raw column's engineered columns together (the
    preprocessing runs on the explained rows only; exact when every engineered column is a
    function of one raw column, which ``"auto"`` checks from the leaves and on 64 random
    rows/coalitions); ``"raw"`` masks the codes and runs the preprocessing graph on every
    synthetic row (always the raw game; the graph and the model merged into one).
    ``design``: the coalition design over the raw players (see
    :meth:`KernelScoringExplainer.from_model`); the Bayesian one fits its prior on the
    raw games of a few initialization rows.
    """
    from ..runtime._schema import RawSchema
    from ._background import summarize_rows
    from ._chunks import CHUNK_CANDIDATES, fastest_chunk
    from ._design import auto_nsamples
    from ._designs import DESIGNS, make_design, stored_maps, training_games
    from ._prepare import PythonModel, prepare
    from ._preprocess import check_preprocessing, preprocessing_graph

    names = list(fmap.raw_features)
    if not names:
        raise InputError("the data has no columns: nothing to explain (zero features)")
    frame = raw_frame(raw_examples, names)
    engineered = transformed(fmap, frame)
    n_model = getattr(model, "n_features_in_", None)
    if n_model is not None and int(n_model) != engineered.shape[1]:
        raise InputError(
            f"the transformations give {engineered.shape[1]} columns but the model takes "
            f"{int(n_model)}"
        )
    prep = prepare(
        model,
        engineered,
        features=list(fmap.engineered_features),
        classes=classes,
        threads=threads,
        require_onnx=require_onnx,
    )
    finite = np.all(np.isfinite(engineered), axis=1)
    handles_missing = prep.probe_missing(engineered[np.argmax(finite)])
    raw = infer_columns(frame, fmap, model_handles_missing=handles_missing)
    schema = RawSchema.from_json(raw.columns)
    graph = preprocessing_graph(fmap, raw)
    check = check_preprocessing(
        graph, fmap, schema, frame, probes=probe_rows(frame, raw.columns, names)
    )
    codes, problems = schema.encode(frame, errors="collect")
    keep = np.setdiff1d(np.arange(len(frame)), [row for row, _ in problems])
    if not len(keep):
        raise InputError(f"no initialization row can be explained: {problems[0][1]}")
    weights_in = None if background_weights is None else np.asarray(background_weights)[keep]
    rows, weights = summarize_rows(
        engineered[keep], nclusters, random_state=random_state, sample_weight=weights_in
    )
    background = codes[keep][rows]
    m = len(names)
    transform = OnnxTransform(graph, n_inputs=m, n_outputs=engineered.shape[1], threads=threads)
    if masking == "auto":
        masking = "engineered" if fmap.separable else "raw"
        if masking == "engineered" and not _separable_on(
            transform, fmap, codes[keep], np.random.default_rng(random_state)
        ):
            warnings.warn(
                "the transformations are not column-separable on the data: Kernel masks "
                "the raw columns' codes instead (exact, slower)",
                stacklevel=3,
            )
            masking = "raw"
    budget = auto_nsamples(m) if nsamples == "auto" else int(nsamples)
    if budget < m:
        raise ValueError(f"nsamples={budget} is too small for {m} features (need >= {m})")
    if design not in DESIGNS:
        raise ValueError(f"design must be one of {sorted(DESIGNS)}, got {design!r}")
    extra: dict[str, Any] = {}
    columns_of: Any = None
    sample = codes[keep][np.random.default_rng(random_state).permutation(len(keep))[:64]]
    runner: Any
    if masking == "engineered":
        # players = raw columns, masking their engineered columns together (exact for
        # column-separable transformations); the preprocessing runs on explained rows only
        runner = prep.model
        masked = transform.transform(background)
        columns = len(fmap.engineered_features)
        features = list(fmap.engineered_features)
        expected = weights @ prep.model.outputs(masked)
        extra = {
            "preprocessor": transform,
            "raw_features": names,
            "feature_map": fmap.weights,
            "groups": fmap.weights > 0,
        }
        first = transform.transform(codes[keep][:1])[0]
        owners = (fmap.weights > 0).astype(np.int64)

        def columns_of(masks: np.ndarray) -> np.ndarray:
            taken: np.ndarray = (masks.astype(np.int64) @ owners) > 0
            return taken

        sample = transform.transform(sample)
    else:
        # players = raw columns, masking their codes: the graph then the model per row
        if isinstance(prep.model, PythonModel):
            runner = ComposedModel(transform, prep.model, n_features=m)
        else:
            runner = OnnxModel(
                compose_graphs(graph, prep.model.model_bytes),
                task=prep.task,
                n_features=m,
                threads=threads,
            )
        masked = background
        columns = m
        features = names
        expected = weights @ runner.outputs(background)
        first = background[0]
    games = training_games(
        runner.outputs, sample, masked, weights, expected, random_state, columns=columns_of
    )
    chosen = make_design(design, m, budget, np.random.default_rng(random_state), games)
    column_masks = chosen.masks if columns_of is None else columns_of(chosen.masks)
    maps = stored_maps(chosen)
    if max_synthetic_rows == "auto":
        stream = np.where(
            column_masks[:, None, :],
            first.astype(np.float32),
            masked.astype(np.float32)[None],
        ).reshape(-1, columns)
        reps = -(-CHUNK_CANDIDATES[-1] // len(stream))
        max_synthetic_rows = fastest_chunk(runner, np.tile(stream, (reps, 1)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        engine = KernelScoringExplainer(
            model=runner,
            background=masked,
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
            features=features,
            classes=prep.classes,
            output_space="probability" if prep.task == "classification" else "raw",
            expected_values=expected,
            allow_missing=prep.probe_missing(masked[0]) if masking == "engineered" else True,
            schema=schema,
            metadata={
                **prep.metadata,
                "players": "raw",
                "masking": masking,
                "background_rows": [int(i) for i in keep[rows]],
                "preprocess_check": check,
                "nclusters": nclusters,
                "nsamples": budget,
                "random_state": random_state,
                "design": design,
                **({"design_prior": list(chosen.prior)} if chosen.prior else {}),
                **({"design_note": chosen.note} if chosen.note else {}),
            },
            **extra,
        )
    return engine


def _separable_on(
    transform: OnnxTransform, fmap: FeatureMap, codes: np.ndarray, rng: np.random.Generator
) -> bool:
    """Whether masking engineered columns by raw column equals transforming the masked
    raw row, on 64 random (row, background row, coalition) triples."""
    n, m = codes.shape
    x = codes[rng.integers(0, n, 64)]
    b = codes[rng.integers(0, n, 64)]
    z = rng.random((64, m)) < 0.5
    direct = transform.transform(np.where(z, x, b))
    ze = (z.astype(np.int64) @ (fmap.weights > 0).astype(np.int64)) > 0
    grouped = np.where(ze, transform.transform(x), transform.transform(b))
    return bool(np.allclose(direct, grouped, atol=1e-6, equal_nan=True))


def is_raw(engine: Any) -> bool:
    """Whether ``engine`` is a Kernel engine over the raw features as players."""
    return bool(engine.kind == "kernel" and engine.metadata.get("players") == "raw")


def unconverted(engine: Any) -> str | None:
    """The conversion error of an engine whose model is called in Python, else ``None``."""
    model = engine.model
    if isinstance(model, ComposedModel) or getattr(model, "model_bytes", 1) is None:
        return str(getattr(model, "conversion_error", "the model does not convert to ONNX"))
    return None


def refuse_unconverted(engine: Any) -> None:
    error = unconverted(engine)
    if error is not None:
        raise ConversionError(
            f"the model cannot be converted to ONNX, so it cannot be distilled: {error}"
        )


class DecodedModel:
    """A function of raw rows (``pipeline.predict_proba``) called on codes: each code
    matrix is decoded back into a DataFrame of raw values (an unknown code becomes a value
    no category equals). Explains in-process; a function cannot be saved."""

    model_bytes = None
    threads = 1
    conversion_error = (
        "a function cannot be converted to ONNX; pass the fitted model itself (not its "
        "predict_proba or predict) to distill it"
    )

    def __init__(self, function: Any, schema: Any, *, task: Task, labels: list[Any] | None):
        self._function = function
        self._schema = schema
        self.task: Task = task
        self.n_features = len(schema.columns)
        self._labels = labels
        self._lookups: list[np.ndarray | None] = []
        for column in schema.columns:
            if column.kind == "categorical":
                values = [*column.categories, np.nan, STRING_SENTINELS[0]]
                self._lookups.append(np.asarray(values, dtype=object))
            else:
                self._lookups.append(None)

    def frame(self, X: np.ndarray) -> Any:
        import pandas as pd

        data = {}
        for j, column in enumerate(self._schema.columns):
            lookup = self._lookups[j]
            if lookup is None:
                data[column.name] = np.asarray(X[:, j], dtype=np.float64)
            else:
                data[column.name] = pd.Series(lookup[X[:, j].astype(np.int64)], dtype=object)
        return pd.DataFrame(data)

    def outputs(self, X: np.ndarray) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values = self._function(self.frame(X))
        return np.asarray(values, dtype=np.float64).reshape(len(X), -1)

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        outputs = self.outputs(X)
        if self.task == "classification":
            labels = np.asarray(self._labels)[np.argmax(outputs, axis=1)]
            return labels, outputs
        return outputs[:, 0].copy(), outputs


def observed_schema(frame: Any) -> Any:
    """A raw schema read from the rows alone: non-numeric columns categorical (their
    observed values, unknown values coded), the others numeric; missing allowed."""
    from ..runtime._schema import RawSchema
    from ._raw import _value_type, is_missing

    columns = []
    for name in frame.columns:
        values = [v for v in frame[name].to_numpy(dtype=object) if not is_missing(v)]
        kind = _value_type(values, str(name)) if values else "number"
        if kind in ("string",) or (kind == "boolean" and frame[name].dtype == object):
            columns.append(
                {
                    "name": str(name),
                    "kind": "categorical",
                    "type": kind,
                    "missing": True,
                    "categories": sorted(set(values)),
                    "unknown": "code",
                }
            )
        else:
            columns.append(
                {
                    "name": str(name),
                    "kind": "numeric",
                    "type": "boolean" if kind == "boolean" else "number",
                    "missing": True,
                }
            )
    return RawSchema.from_json(columns)


def function_kernel(
    function: Any,
    raw_examples: Any,
    names: list[str],
    *,
    classes: list[Any] | None,
    nclusters: int | None,
    nsamples: int | Literal["auto"],
    random_state: int,
) -> KernelScoringExplainer:
    """A Kernel engine over the raw columns for a function of raw rows (called in
    Python on rows decoded from codes; not distillable)."""
    from ._background import summarize_rows
    from ._design import auto_nsamples, coalition_design
    from ._prepare import function_task

    if not names:
        raise InputError("the data has no columns: nothing to explain (zero features)")
    frame = raw_frame(raw_examples, names)
    schema = observed_schema(frame)
    codes = schema.encode(frame)
    task, width = function_task(function, frame.iloc[:5], min(5, len(frame)))
    labels = None
    if task == "classification":
        labels = list(classes) if classes is not None else list(range(width))
        if len(labels) != width:
            raise InputError(f"{len(labels)} class names given, the function gives {width}")
    model = DecodedModel(function, schema, task=task, labels=labels)
    blocks = []
    for j, column in enumerate(schema.columns):
        if column.kind == "categorical":
            blocks.append(np.eye(len(column.categories) + 2)[codes[:, j].astype(np.int64)])
        else:
            blocks.append(codes[:, [j]])
    rows, weights = summarize_rows(np.hstack(blocks), nclusters, random_state=random_state)
    background = codes[rows]
    m = len(names)
    budget = auto_nsamples(m) if nsamples == "auto" else int(nsamples)
    design = coalition_design(m, budget, np.random.default_rng(random_state))
    python: Any = model  # OnnxModel's interface, called in Python
    engine = KernelScoringExplainer(
        model=python,
        background=background,
        background_weights=weights,
        masks=design.masks,
        coalition_weights=design.weights,
        coalition_units=design.units,
        exact=design.exact,
        features=names,
        classes=labels,
        output_space="probability" if task == "classification" else "raw",
        expected_values=weights @ model.outputs(background),
        allow_missing=True,
        schema=schema,
        metadata={
            "model_type": getattr(function, "__qualname__", type(function).__name__),
            "onnx": model.conversion_error,
            "players": "raw",
        },
    )
    return engine

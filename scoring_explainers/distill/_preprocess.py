"""The preprocessing graph on codes: raw code matrix in, engineered float columns out.

Numeric leaves go through skl2onnx (on the leaf's own columns); each categorical column is
a ``Gather`` of its lookup table at its code. The blocks are concatenated and put in the
transformations' output order by one ``Gather``; post steps (a Pipeline's steps after a
leading ColumnTransformer) follow, converted on the engineered width.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._errors import ArtifactError, ConversionError
from ..runtime._onnx_model import OnnxTransform
from ..transformations import FeatureMap
from ._raw import RawColumns, raw_frame, transformed

__all__ = ["MAX_PREPROCESS_GAP", "check_preprocessing", "preprocessing_graph"]

#: Largest gap between the preprocessing graph and the fitted transformers (relative to
#: the engineered columns' scale) accepted at distill time.
MAX_PREPROCESS_GAP = 1e-4
INPUT = "X"
OUTPUT = "engineered"


def _merge(main: Any, sub: Any, prefix: str, source: str) -> str:
    """Add ``sub`` (one input, one output) into ``main`` reading ``source``; returns the
    name of its output."""
    import onnx
    from onnx import helper

    sub = onnx.compose.add_prefix(sub, prefix)
    (sub_input,) = sub.graph.input
    (sub_output,) = sub.graph.output
    main.graph.node.append(helper.make_node("Identity", [source], [sub_input.name]))
    main.graph.node.extend(sub.graph.node)
    main.graph.initializer.extend(sub.graph.initializer)
    versions = {o.domain: o.version for o in main.opset_import}
    for o in sub.opset_import:
        versions[o.domain] = max(versions.get(o.domain, 0), o.version)
    del main.opset_import[:]
    main.opset_import.extend(helper.make_opsetid(d, v) for d, v in versions.items())
    cast = f"{prefix}float"
    main.graph.node.append(
        helper.make_node("Cast", [sub_output.name], [cast], to=onnx.TensorProto.FLOAT)
    )
    return cast


def _convert(transformer: Any, width: int, opset: int | None, what: str) -> Any:
    from ._convert import _convert_sklearn

    onx = _convert_sklearn(transformer, width, opset, names=None)
    if len(onx.graph.input) != 1 or len(onx.graph.output) != 1:
        raise ConversionError(f"the ONNX graph of {what} has several inputs or outputs")
    return onx


def _check_width(onx: Any, n_in: int, n_out: int, what: str) -> None:
    """The converted leaf gives the columns the fitted one does (run on a row of zeros)."""
    import onnxruntime as ort

    session = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {session.get_inputs()[0].name: np.zeros((1, n_in), np.float32)})
    width = int(np.asarray(out).reshape(1, -1).shape[1])
    if width != n_out:
        raise ConversionError(
            f"the ONNX graph of {what} gives {width} columns where the fitted one gives "
            f"{n_out}; a SimpleImputer that drops an all-missing column is one cause: fit it "
            "with keep_empty_features=True or drop the column first"
        )


def preprocessing_graph(fmap: FeatureMap, raw: RawColumns, *, opset: int | None = None) -> bytes:
    """The ONNX graph from codes ``(n, n_raw)`` float32 to engineered ``(n, n_eng)`` float32.

    Parameters
    ----------
    fmap : FeatureMap
        With its leaves and post steps.
    raw : RawColumns
        The schema's columns and tables (:func:`~scoring_explainers.distill._raw.infer_columns`).
    opset : int, optional

    Returns
    -------
    bytes
        The serialised graph (input ``X``, output ``engineered``).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from ._convert import _default_opset

    n_raw = len(fmap.raw_features)
    width = (
        max((leaf.output.stop for leaf in fmap.leaves), default=0)
        if fmap.post is not None
        else len(fmap.engineered_features)
    )
    graph = helper.make_graph(
        [],
        "preprocess",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, [None, n_raw])],
        [],
    )
    main = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid(d, v) for d, v in _default_opset(opset).items()],
    )
    blocks: list[str] = []
    placed: list[np.ndarray] = []

    def constant(name: str, value: np.ndarray) -> str:
        main.graph.initializer.append(numpy_helper.from_array(value, name))
        return name

    for i in raw.numeric_leaves:
        leaf = fmap.leaves[i]
        cols = constant(f"leaf{i}_columns", np.asarray(leaf.columns, dtype=np.int64))
        picked = f"leaf{i}_input"
        main.graph.node.append(helper.make_node("Gather", [INPUT, cols], [picked], axis=1))
        if isinstance(leaf.transformer, str):  # passthrough
            blocks.append(picked)
        else:
            what = type(leaf.transformer).__name__
            sub = _convert(leaf.transformer, len(leaf.columns), opset, what)
            _check_width(sub, len(leaf.columns), leaf.output.stop - leaf.output.start, what)
            blocks.append(_merge(main, sub, f"leaf{i}_", picked))
        placed.append(np.arange(leaf.output.start, leaf.output.stop))
    shape = constant("flat", np.array([-1], dtype=np.int64))
    for j, tab in sorted(raw.tables.items()):
        if tab.table.shape[1] == 0:
            continue
        index = constant(f"col{j}_index", np.array([j], dtype=np.int64))
        table = constant(f"col{j}_table", tab.table.astype(np.float32))
        main.graph.node.extend(
            [
                helper.make_node("Gather", [INPUT, index], [f"col{j}_code2d"], axis=1),
                helper.make_node("Reshape", [f"col{j}_code2d", shape], [f"col{j}_codef"]),
                helper.make_node("Cast", [f"col{j}_codef"], [f"col{j}_code"], to=TensorProto.INT64),
                helper.make_node("Gather", [table, f"col{j}_code"], [f"col{j}_out"], axis=0),
            ]
        )
        blocks.append(f"col{j}_out")
        placed.append(tab.engineered)
    order = np.concatenate(placed) if placed else np.zeros(0, dtype=np.int64)
    if sorted(order.tolist()) != list(range(width)):
        raise ConversionError(
            "the transformations' leaves do not give each engineered column exactly once"
        )
    permutation = constant("permutation", np.argsort(order).astype(np.int64))
    last = OUTPUT if fmap.post is None else "stacked"
    main.graph.node.append(helper.make_node("Concat", blocks, ["concat"], axis=1))
    main.graph.node.append(helper.make_node("Gather", ["concat", permutation], [last], axis=1))
    if fmap.post is not None:
        sub = _convert(fmap.post, width, opset, "the steps after the ColumnTransformer")
        out = _merge(main, sub, "post_", last)
        main.graph.node.append(helper.make_node("Identity", [out], [OUTPUT]))
    main.graph.output.append(helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, [None, None]))
    onnx.checker.check_model(main)
    return bytes(main.SerializeToString())


def check_preprocessing(
    graph: bytes, fmap: FeatureMap, schema: Any, X: Any, *, probes: Any = None
) -> dict[str, Any]:
    """Compare the graph on ``schema.encode(X)`` with ``fmap.transform(X)``.

    ``probes`` (raw rows with unknown and missing values) are compared too. A gap above
    :data:`MAX_PREPROCESS_GAP` (relative), or missing values where the transformations
    fill them (or the reverse), is a :class:`ConversionError`.

    Returns
    -------
    dict
        ``{"rows": n, "max_abs_diff": gap}`` for the manifest.
    """
    names = list(fmap.raw_features)
    transform = OnnxTransform(graph, n_inputs=len(names), n_outputs=len(fmap.engineered_features))
    frames = [raw_frame(X, names).iloc[:1000]]
    if probes is not None and len(probes):
        frames.append(raw_frame(probes, names))
    worst = 0.0
    rows = 0
    for frame in frames:
        codes, problems = schema.encode(frame, errors="collect")
        if problems:  # rows the schema refuses (a missing value nothing fills) are skipped
            keep = np.setdiff1d(np.arange(len(frame)), [row for row, _ in problems])
            frame, codes = frame.iloc[keep], codes[keep]
        if not len(frame):
            continue
        expected = transformed(fmap, frame)
        try:
            got = transform.transform(codes)
        except ArtifactError as exc:
            raise ConversionError(
                "the ONNX graph of the transformations does not give the columns they do "
                f"({exc.problem}); a SimpleImputer that drops an all-missing column is one "
                "cause: fit it with keep_empty_features=True or drop the column first"
            ) from exc
        if np.any(np.isfinite(expected) != np.isfinite(got)):
            raise ConversionError(
                "the ONNX graph of the transformations leaves missing values where they "
                "fill them (or the reverse) on the initialization examples"
            )
        both = np.isfinite(expected)
        scale = max(1.0, float(np.abs(expected[both]).max(initial=0.0)))
        gap = float(np.abs(got[both] - expected[both]).max(initial=0.0)) / scale
        if gap > MAX_PREPROCESS_GAP:
            raise ConversionError(
                f"the ONNX graph of the transformations differs from them by {gap:.3g} "
                "(relative) on the initialization examples"
            )
        worst = max(worst, gap)
        rows += len(frame)
    return {"rows": rows, "max_relative_diff": worst}

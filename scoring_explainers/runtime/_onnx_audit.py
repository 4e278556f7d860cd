"""What an ONNX graph in an artifact may hold, checked before onnxruntime sees it.

:func:`audit_onnx` reads the graph with :mod:`._onnx_wire` (no ``onnx`` package at run time)
and refuses, with one :class:`ArtifactError` naming the file and the problem:

- a tensor whose data lives outside the file (``data_location=EXTERNAL`` or
  ``external_data`` entries) anywhere: initializers, sparse initializers (values and
  indices), attribute tensors (``Constant``'s ``value``/``sparse_value`` and any other),
  subgraphs at any depth, model-local functions, training graphs. onnxruntime would read such
  data from files next to the working directory;
- operators or opset imports from domains other than :data:`ALLOWED_DOMAINS` (custom
  operators, which would need a custom-op library; contrib and preview operators);
- model-local functions, training information, and ``ort_config`` metadata (onnxruntime
  can take session options from it);
- ``Loop`` unless ``allow_loop`` (its trip count can come from the request), and
  ``Scan``/``If``/any other node with a subgraph unless it has the one form the project's
  converters emit (see :func:`_scan_problem`).
"""

from __future__ import annotations

from collections.abc import Iterator

from .._errors import ArtifactError
from ._onnx_wire import Attribute, Graph, Model, Node, Tensor, WireError, read_model

__all__ = ["ALLOWED_DOMAINS", "SCAN_BODY_OPS", "audit_onnx"]

#: Operator domains an artifact's graphs may use: the ONNX operators ("" or its alias
#: "ai.onnx") and the ONNX-ML operators, the only ones our converters emit.
ALLOWED_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml"})

#: Operators a ``Scan`` body may hold: what skl2onnx's pairwise distances (nearest
#: neighbours) put there for the euclidean, manhattan and minkowski metrics.
SCAN_BODY_OPS = frozenset({"Identity", "Sub", "Abs", "Pow", "ReduceSum", "ReduceSumSquare"})

_ORT_CONFIG_KEY = "ort_config"


def _tensors(tensor: Tensor | None, where: str) -> Iterator[tuple[Tensor, str]]:
    if tensor is not None:
        yield tensor, where


def _sparse(pair: tuple[Tensor | None, Tensor | None], where: str) -> Iterator[tuple[Tensor, str]]:
    values, indices = pair
    yield from _tensors(values, f"{where} (values)")
    yield from _tensors(indices, f"{where} (indices)")


def _attribute_tensors(attribute: Attribute, where: str) -> Iterator[tuple[Tensor, str]]:
    here = f"{where}, attribute {attribute.name!r}"
    for tensor in attribute.tensors:
        yield tensor, here
    for pair in attribute.sparse_tensors:
        yield from _sparse(pair, here)
    for k, graph in enumerate(attribute.graphs):
        yield from _graph_tensors(graph, f"{here} subgraph {k}")


def _node_label(node: Node, index: int) -> str:
    label = f"node {index} ({node.domain + '.' if node.domain else ''}{node.op_type}"
    return label + (f" {node.name!r})" if node.name else ")")


def _graph_tensors(graph: Graph, where: str) -> Iterator[tuple[Tensor, str]]:
    for tensor in graph.initializers:
        yield tensor, f"{where}, initializer"
    for pair in graph.sparse_initializers:
        yield from _sparse(pair, f"{where}, sparse initializer")
    for k, node in enumerate(graph.nodes):
        for attribute in node.attributes:
            yield from _attribute_tensors(attribute, f"{where}, {_node_label(node, k)}")


def _all_tensors(model: Model) -> Iterator[tuple[Tensor, str]]:
    if model.graph is not None:
        yield from _graph_tensors(model.graph, "graph")
    for graph in model.training_graphs:
        yield from _graph_tensors(graph, "training graph")
    for function in model.functions:
        where = f"function {function.name!r}"
        for k, node in enumerate(function.nodes):
            for attribute in node.attributes:
                yield from _attribute_tensors(attribute, f"{where}, {_node_label(node, k)}")
        for attribute in function.attributes:
            yield from _attribute_tensors(attribute, where)


def _scan_problem(node: Node, graph: Graph) -> str | None:
    """Why a ``Scan`` node is not of the allowed form (``None`` when it is).

    The allowed form, which skl2onnx emits for the distances of nearest-neighbour models:
    every scanned input (the last ``num_scan_inputs`` inputs) is an initializer of the
    graph holding the node and not a graph input the caller could feed, so the trip count
    is the first dimension of a tensor stored in the artifact; the body holds only the
    operators of :data:`SCAN_BODY_OPS` (ONNX domain) and no subgraph.
    """
    n_scan = next((a.i for a in node.attributes if a.name == "num_scan_inputs"), None)
    if n_scan is None or not 1 <= n_scan <= len(node.inputs):
        return "num_scan_inputs is missing or out of range"
    stored = {t.name for t in graph.initializers} - set(graph.inputs)
    scanned = node.inputs[len(node.inputs) - n_scan :]
    fed = [name for name in scanned if name not in stored]
    if fed:
        return (
            f"it scans {fed}, which are not tensors stored in the artifact "
            "(the number of iterations could come from the request)"
        )
    bodies = [g for a in node.attributes for g in a.graphs]
    if len(bodies) != 1 or [a.name for a in node.attributes if a.graphs] != ["body"]:
        return "it must have exactly one subgraph, its body"
    for inner in bodies[0].nodes:
        if inner.domain not in ("", "ai.onnx") or inner.op_type not in SCAN_BODY_OPS:
            return (
                f"its body uses {inner.op_type!r}; a Scan body may only hold "
                f"{sorted(SCAN_BODY_OPS)}"
            )
        if any(a.graphs for a in inner.attributes):
            return "its body holds a subgraph"
    return None


def _node_problems(graph: Graph, where: str, allow_loop: bool) -> Iterator[str]:
    for k, node in enumerate(graph.nodes):
        here = f"{where}, {_node_label(node, k)}"
        if node.domain not in ALLOWED_DOMAINS:
            yield (
                f"{here} is from domain {node.domain!r}; only {sorted(ALLOWED_DOMAINS)} "
                "(operators onnxruntime has built in, no custom-op library) are allowed"
            )
            continue
        subgraphs = [g for a in node.attributes for g in a.graphs]
        onnx_domain = node.domain in ("", "ai.onnx")
        if onnx_domain and node.op_type == "Loop":
            if not allow_loop:
                yield (
                    f"{here} is a Loop, whose number of iterations can come from the "
                    "request; refused unless allowed (load(..., allow_loop=True), "
                    "SCORING_ALLOW_LOOP=true in the service)"
                )
                continue
        elif onnx_domain and node.op_type == "Scan":
            problem = _scan_problem(node, graph)
            if problem:
                yield f"{here}: this Scan is not of the allowed form: {problem}"
                continue
        elif subgraphs:
            yield (
                f"{here} holds a subgraph; only Scan in the form the converters emit "
                "(and Loop when allowed) may"
            )
            continue
        for a in node.attributes:
            for j, sub in enumerate(a.graphs):
                yield from _node_problems(sub, f"{here}, {a.name!r} subgraph {j}", allow_loop)


def _problems(model: Model, allow_loop: bool) -> Iterator[str]:
    for tensor, where in _all_tensors(model):
        if tensor.external:
            location = dict(tensor.external_data).get("location")
            at = f" at {location!r}" if location else ""
            yield (
                f"tensor {tensor.name!r} ({where}) uses ONNX external data{at}: refused, an "
                "artifact's graphs must hold every tensor in the file"
            )
    if model.graph is None:
        yield "holds no graph"
        return
    if model.functions:
        names = sorted(f"{f.domain}.{f.name}" if f.domain else f.name for f in model.functions)
        yield f"defines model-local functions {names}; only built-in operators are allowed"
    if model.training_graphs:
        yield "holds training information; an artifact's graphs are for inference only"
    if _ORT_CONFIG_KEY in model.metadata_keys:
        yield (
            f"its metadata has {_ORT_CONFIG_KEY!r}, which asks onnxruntime for session "
            "options; refused"
        )
    others = sorted({domain for domain, _ in model.opset_import} - ALLOWED_DOMAINS)
    if others:
        yield (
            f"imports operator domains {others}; only {sorted(ALLOWED_DOMAINS)} (operators "
            "onnxruntime has built in, no custom-op library) are allowed"
        )
    yield from _node_problems(model.graph, "graph", allow_loop)


def audit_onnx(model_bytes: bytes, *, file: str, allow_loop: bool = False) -> None:
    """Refuse an ONNX graph that could read files, run custom code or loop on request.

    Parameters
    ----------
    model_bytes : bytes
        A serialised ``ModelProto``.
    file : str
        The artifact file it came from, for the error message.
    allow_loop : bool, default=False
        Accept ``Loop`` nodes (their bodies are audited like the rest).

    Raises
    ------
    ArtifactError
        Naming ``file`` and the first problem found (external data first).
    """
    try:
        model = read_model(model_bytes)
    except WireError as exc:
        raise ArtifactError(file, f"not a valid ONNX model: {exc}") from exc
    problem = next(_problems(model, allow_loop), None)
    if problem is not None:
        raise ArtifactError(file, problem)

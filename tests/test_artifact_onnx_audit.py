"""The ONNX graph audit: its wire-format reader agrees with the ``onnx`` package on every
graph the converters produce and on crafted ones, and the audit accepts the first and
refuses each crafted hole with a message naming it."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.external_data_helper import set_external_data

from scoring_explainers import ArtifactError
from scoring_explainers.runtime._onnx_audit import audit_onnx
from scoring_explainers.runtime._onnx_wire import (
    MAX_GRAPH_DEPTH,
    MAX_ITEMS,
    Graph,
    Model,
    read_model,
)

N_FEATURES = 6


# -- graph builders (also used by test_artifact_security) -----------------------------------
def external(tensor: TensorProto, location: str = "secret.txt") -> TensorProto:
    """``tensor`` turned into a reference to ``location`` (ONNX external data)."""
    set_external_data(tensor, location=location, offset=0, length=len(tensor.raw_data))
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    return tensor


def tensor(name: str, values, dtype=np.float32) -> TensorProto:
    return numpy_helper.from_array(np.asarray(values, dtype=dtype), name)


def linear_model(
    coef: np.ndarray,
    intercept: float,
    *,
    extra_nodes=(),
    extra_initializers=(),
    sparse_initializers=(),
    functions=(),
    opsets=(("", 17),),
    offset: str | None = None,
    ir_version: int = 8,
) -> onnx.ModelProto:
    """``predictions = X @ coef + intercept (+ offset)``: a regression graph of 6 features.

    ``offset`` names a (1,)-shaped float tensor made by ``extra_nodes`` that is added to the
    predictions (so crafted nodes are live, not dead code onnxruntime could drop).
    """
    nodes = [
        helper.make_node("MatMul", ["X", "W"], ["xw"]),
        helper.make_node("Add", ["xw", "b"], ["margin" if offset else "predictions"]),
        *extra_nodes,
    ]
    if offset:
        nodes.append(helper.make_node("Add", ["margin", offset], ["predictions"]))
    graph = helper.make_graph(
        nodes,
        "linear",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, N_FEATURES])],
        [helper.make_tensor_value_info("predictions", TensorProto.FLOAT, [None, 1])],
        [
            tensor("W", np.reshape(coef, (N_FEATURES, 1))),
            tensor("b", [intercept]),
            *extra_initializers,
        ],
        sparse_initializer=list(sparse_initializers),
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid(d, v) for d, v in opsets],
        functions=list(functions),
    )
    model.ir_version = ir_version
    return model


def branch(name: str, value: TensorProto) -> onnx.GraphProto:
    """A subgraph with no input that returns the constant ``value`` as ``{name}_out``."""
    return helper.make_graph(
        [helper.make_node("Constant", [], [f"{name}_out"], value=value)],
        name,
        [],
        [helper.make_tensor_value_info(f"{name}_out", TensorProto.FLOAT, [1])],
    )


def if_model(then_value: TensorProto, coef=None) -> onnx.ModelProto:
    """An ``If`` on a stored ``True`` whose branches are Constants; its output is added."""
    coef = np.zeros(N_FEATURES) if coef is None else coef
    node = helper.make_node(
        "If",
        ["cond"],
        ["offset"],
        then_branch=branch("then", then_value),
        else_branch=branch("else", tensor("zero", [0.0])),
    )
    return linear_model(
        coef,
        0.0,
        extra_nodes=[node],
        extra_initializers=[tensor("cond", True, dtype=np.bool_)],
        offset="offset",
    )


def loop_model(coef: np.ndarray, intercept: float, *, trip_count_from_request: bool = False):
    """``predictions`` computed inside a ``Loop`` body (one iteration, or as many as the
    request's first value when ``trip_count_from_request``)."""
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("MatMul", ["X", "W"], ["xw_i"]),
            helper.make_node("Add", ["xw_i", "b"], ["acc_out"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("acc_in", TensorProto.FLOAT, [None, 1]),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("acc_out", TensorProto.FLOAT, [None, 1]),
        ],
    )
    nodes = []
    if trip_count_from_request:
        nodes += [
            helper.make_node("ReduceMax", ["X"], ["top"], keepdims=0),
            helper.make_node("Cast", ["top"], ["trips"], to=TensorProto.INT64),
        ]
    nodes += [
        helper.make_node("MatMul", ["X", "zeros"], ["acc0"]),
        helper.make_node(
            "Loop", ["trips" if trip_count_from_request else "one", "true", "acc0"], ["acc"],
            body=body,
        ),
        helper.make_node("Identity", ["acc"], ["predictions"]),
    ]  # fmt: skip
    graph = helper.make_graph(
        nodes,
        "loop",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, N_FEATURES])],
        [helper.make_tensor_value_info("predictions", TensorProto.FLOAT, [None, 1])],
        [
            tensor("W", np.reshape(coef, (N_FEATURES, 1))),
            tensor("b", [intercept]),
            tensor("zeros", np.zeros((N_FEATURES, 1))),
            tensor("one", 1, dtype=np.int64),
            tensor("true", True, dtype=np.bool_),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def scan_model(*, scan_request: bool, body_op: str = "Sub") -> onnx.ModelProto:
    """skl2onnx's distance Scan: state X, scanning a stored (4, 6) tensor or X itself."""
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["next_in"], ["next_out"]),
            helper.make_node(body_op, ["next_in", "next"], ["diff"]),
            helper.make_node("ReduceSumSquare", ["diff"], ["scan_out"], axes=[1], keepdims=0),
        ],
        "body",
        [
            helper.make_tensor_value_info("next_in", TensorProto.FLOAT, [None, N_FEATURES]),
            helper.make_tensor_value_info("next", TensorProto.FLOAT, [N_FEATURES]),
        ],
        [
            helper.make_tensor_value_info("next_out", TensorProto.FLOAT, [None, N_FEATURES]),
            helper.make_tensor_value_info("scan_out", TensorProto.FLOAT, [None]),
        ],
    )
    nodes = [
        helper.make_node(
            "Scan", ["X", "X" if scan_request else "points"], ["state", "dist"],
            num_scan_inputs=1, body=body,
        ),
        helper.make_node("ReduceSum", ["dist"], ["predictions"], axes=[0], keepdims=1),
    ]  # fmt: skip
    graph = helper.make_graph(
        nodes,
        "scan",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, N_FEATURES])],
        [helper.make_tensor_value_info("predictions", TensorProto.FLOAT, None)],
        [tensor("points", np.arange(4 * N_FEATURES).reshape(4, N_FEATURES))],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    model.ir_version = 8
    return model


def function_model() -> onnx.ModelProto:
    """Predictions through a model-local function ``local.Affine``."""
    function = helper.make_function(
        "local",
        "Affine",
        ["x", "w", "c"],
        ["y"],
        [
            helper.make_node("MatMul", ["x", "w"], ["xw"]),
            helper.make_node("Add", ["xw", "c"], ["y"]),
        ],
        [helper.make_opsetid("", 17)],
    )
    node = helper.make_node("Affine", ["X", "W", "b"], ["offset"], domain="local")
    return linear_model(
        np.zeros(N_FEATURES), 0.0, extra_nodes=[node], offset="offset",
        functions=[function], opsets=(("", 17), ("local", 1)),
    )  # fmt: skip


# -- the reader against the onnx package ---------------------------------------------------
def _onnx_view(model: onnx.ModelProto) -> dict:
    def graph(g: onnx.GraphProto, path: str, out: list) -> None:
        out.append(
            (
                "graph",
                path,
                g.name,
                [(t.name, t.data_location, len(t.external_data)) for t in g.initializer],
                [
                    tuple(
                        (t.name, t.data_location, len(t.external_data))
                        for t in (s.values, s.indices)
                    )
                    for s in g.sparse_initializer
                ],
                [i.name for i in g.input],
                [o.name for o in g.output],
            )
        )
        for k, n in enumerate(g.node):
            out.append(("node", path, n.op_type, n.domain, n.name, list(n.input), list(n.output)))
            for a in n.attribute:
                tensors = ([a.t] if a.HasField("t") else []) + list(a.tensors)
                out.append(
                    (
                        "attr",
                        path,
                        a.name,
                        a.i if a.HasField("i") else None,
                        [(t.name, t.data_location, len(t.external_data)) for t in tensors],
                    )
                )
                graphs = ([a.g] if a.HasField("g") else []) + list(a.graphs)
                for j, sub in enumerate(graphs):
                    graph(sub, f"{path}/{k}.{a.name}.{j}", out)

    nodes: list = []
    graph(model.graph, "", nodes)
    return {
        "ir_version": model.ir_version,
        "opsets": [(o.domain, o.version) for o in model.opset_import],
        "functions": [(f.domain, f.name, [n.op_type for n in f.node]) for f in model.functions],
        "metadata": [p.key for p in model.metadata_props],
        "graph": nodes,
    }


def _wire_view(model: Model) -> dict:
    def graph(g: Graph, path: str, out: list) -> None:
        out.append(
            (
                "graph",
                path,
                g.name,
                [(t.name, t.data_location, len(t.external_data)) for t in g.initializers],
                [
                    tuple((t.name, t.data_location, len(t.external_data)) for t in pair)
                    for pair in g.sparse_initializers
                ],
                g.inputs,
                g.outputs,
            )
        )
        for k, n in enumerate(g.nodes):
            out.append(("node", path, n.op_type, n.domain, n.name, n.inputs, n.outputs))
            for a in n.attributes:
                tensors = [(t.name, t.data_location, len(t.external_data)) for t in a.tensors]
                out.append(("attr", path, a.name, a.i, tensors))
                for j, sub in enumerate(a.graphs):
                    graph(sub, f"{path}/{k}.{a.name}.{j}", out)

    nodes: list = []
    assert model.graph is not None
    graph(model.graph, "", nodes)
    return {
        "ir_version": model.ir_version,
        "opsets": model.opset_import,
        "functions": [(f.domain, f.name, [n.op_type for n in f.nodes]) for f in model.functions],
        "metadata": model.metadata_keys,
        "graph": nodes,
    }


def assert_reader_agrees(data: bytes) -> Model:
    model = read_model(data)
    assert _wire_view(model) == _onnx_view(onnx.load_from_string(data))
    return model


def _ops(model: Model) -> set[tuple[str, str, int]]:
    found = set()

    def walk(graph: Graph, depth: int) -> None:
        for node in graph.nodes:
            found.add((node.domain, node.op_type, depth))
            for a in node.attributes:
                for sub in a.graphs:
                    walk(sub, depth + 1)

    assert model.graph is not None
    walk(model.graph, 0)
    return found


@pytest.fixture(scope="module")
def converter_graphs():
    """Every graph the converters produce for the model types the test suite converts,
    taken from distilled explainers (what ``save`` writes) and from ``to_onnx``."""
    import lightgbm
    import xgboost
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.compose import ColumnTransformer
    from sklearn.datasets import make_classification, make_regression
    from sklearn.ensemble import (
        ExtraTreesRegressor,
        GradientBoostingClassifier,
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
        RandomForestClassifier,
    )
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LinearRegression, LogisticRegression, SGDClassifier
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, StandardScaler
    from sklearn.svm import SVC, SVR, LinearSVC
    from sklearn.tree import DecisionTreeRegressor

    from scoring_explainers.convert import preprocessing_to_onnx, to_onnx

    X, y = make_classification(300, 5, n_informative=3, random_state=0)
    X3, y3 = make_classification(300, 5, n_informative=3, n_classes=3, random_state=1)
    Xr, yr = make_regression(300, 5, random_state=2)
    codes = np.column_stack([X[:, :4], np.random.default_rng(0).integers(0, 3, len(X))])
    models = {
        "SVC (dense graph)": SVC(probability=True, random_state=0).fit(X, y),
        "SVR (dense graph)": SVR().fit(Xr, yr),
        "scaled SVC (dense graph)": make_pipeline(
            StandardScaler(), SVC(probability=True, random_state=0)
        ).fit(X, y),
        "CalibratedClassifierCV(SVC)": CalibratedClassifierCV(SVC(), ensemble=False).fit(X, y),
        "SVC multiclass (dense graph)": SVC(probability=True, random_state=0).fit(X3, y3),
        "KNeighborsClassifier (dense graph)": KNeighborsClassifier(5).fit(X, y),
        "KNN manhattan": KNeighborsClassifier(3, metric="manhattan").fit(X3, y3),
        "KNN p=3": KNeighborsClassifier(3, p=3).fit(X, y),
        "KNN regressor": KNeighborsRegressor(4, weights="distance").fit(Xr, yr),
        "MLP": MLPClassifier((8,), max_iter=50, random_state=0).fit(X3, y3),
        "LogisticRegression": LogisticRegression().fit(X3, y3),
        "LinearRegression": LinearRegression().fit(Xr, yr),
        "SGDClassifier": SGDClassifier(loss="log_loss", random_state=0).fit(X, y),
        "LinearSVC": LinearSVC().fit(X, y),
        "pipeline": make_pipeline(
            ColumnTransformer(
                [
                    ("num", make_pipeline(SimpleImputer(), StandardScaler()), [0, 1, 2, 3]),
                    ("cat", OneHotEncoder(handle_unknown="ignore"), [4]),
                ]
            ),
            LogisticRegression(),
        ).fit(codes, y),
        "MinMaxScaler + RandomForest": make_pipeline(
            MinMaxScaler(), RandomForestClassifier(10, max_depth=4, random_state=0)
        ).fit(X, y),
        "ExtraTreesRegressor": ExtraTreesRegressor(10, max_depth=4, random_state=0).fit(Xr, yr),
        "DecisionTreeRegressor": DecisionTreeRegressor(max_depth=4).fit(Xr, yr),
        "GradientBoosting multiclass": GradientBoostingClassifier(
            n_estimators=10, random_state=0
        ).fit(X3, y3),
        "LightGBM": lightgbm.LGBMClassifier(n_estimators=20, verbose=-1).fit(X3, y3),
        "LightGBM Booster": lightgbm.train(
            {"objective": "regression", "verbose": -1}, lightgbm.Dataset(Xr, yr), 10
        ),
        "XGBoost": xgboost.XGBClassifier(n_estimators=20, max_depth=3).fit(X, y),
        "XGBoost regressor": xgboost.XGBRegressor(n_estimators=20, max_depth=3).fit(Xr, yr),
    }
    graphs: dict[str, bytes] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, model in models.items():
            graphs[name] = to_onnx(model, 5).onnx_bytes
        from scoring_explainers.scoring import TreeScoringExplainer

        for name, model in {
            "HistGradientBoosting (graph from the trees)": HistGradientBoostingClassifier(
                max_iter=10
            ).fit(X3, y3),
            "HistGradientBoostingRegressor (graph from the trees)": HistGradientBoostingRegressor(
                max_iter=10
            ).fit(Xr, yr),
        }.items():
            graphs[name] = TreeScoringExplainer.from_model(model, X[:50]).model.model_bytes
        graphs["preprocess.onnx of the pipeline"] = preprocessing_to_onnx(
            models["pipeline"][0], [f"c{i}" for i in range(5)]
        )
    return graphs


def test_reader_agrees_with_onnx_on_every_converter_graph(converter_graphs):
    for name, data in converter_graphs.items():
        model = assert_reader_agrees(data)
        assert model.graph is not None and model.graph.nodes, name


def test_what_the_converters_emit(converter_graphs):
    """The facts the audit's allow-lists rest on: the ONNX and ONNX-ML domains only, no
    function, no Loop or If; Scan only in nearest neighbours, scanning a stored tensor with
    a body of SCAN_BODY_OPS."""
    from scoring_explainers.runtime._onnx_audit import SCAN_BODY_OPS

    domains, scan_bodies = set(), set()
    for name, data in converter_graphs.items():
        model = read_model(data)
        domains |= {d for d, _ in model.opset_import}
        assert not model.functions and not model.training_graphs
        ops = _ops(model)
        assert not {op for _, op, _ in ops} & {"Loop", "If", "SequenceMap"}, name
        nested = {(d, op) for d, op, depth in ops if depth > 0}
        if "KNN" in name:
            assert ("", "Scan", 0) in ops
            scan_bodies |= {op for _, op in nested}
        else:
            assert "Scan" not in {op for _, op, _ in ops} and not nested, name
    assert domains == {"", "ai.onnx.ml"}
    assert scan_bodies == SCAN_BODY_OPS


def test_every_converter_graph_passes_the_audit(converter_graphs):
    for name, data in converter_graphs.items():
        audit_onnx(data, file=name)


# -- crafted graphs -------------------------------------------------------------------------
def _sparse(name: str, *, external_values=False, external_indices=False):
    values = tensor(f"{name}_values", [1.0])
    indices = tensor(f"{name}_indices", [0], dtype=np.int64)
    if external_values:
        external(values)
    if external_indices:
        external(indices)
    return helper.make_sparse_tensor(values, indices, [1])


COEF = np.arange(1.0, N_FEATURES + 1)


def _external_cases():
    secret = external(tensor("leak", np.zeros(16)))
    yield "initializer", linear_model(COEF, 0.0, extra_initializers=[secret]), "initializer"
    constant = helper.make_node("Constant", [], ["offset"], value=external(tensor("c", [0.0])))
    yield (
        "Constant value",
        linear_model(COEF, 0.0, extra_nodes=[constant], offset="offset"),
        ("attribute 'value'"),
    )
    sparse_constant = helper.make_node(
        "Constant", [], ["dense"], sparse_value=_sparse("s", external_values=True)
    )
    yield (
        "Constant sparse_value",
        linear_model(COEF, 0.0, extra_nodes=[sparse_constant]),
        ("attribute 'sparse_value' (values)"),
    )
    yield (
        "sparse initializer values",
        linear_model(COEF, 0.0, sparse_initializers=[_sparse("sv", external_values=True)]),
        "sparse initializer (values)",
    )
    yield (
        "sparse initializer indices",
        linear_model(COEF, 0.0, sparse_initializers=[_sparse("si", external_indices=True)]),
        "sparse initializer (indices)",
    )
    yield (
        "Constant in an If branch",
        if_model(external(tensor("then_value", [1.0]))),
        ("attribute 'then_branch' subgraph 0"),
    )
    other = helper.make_node("Identity", ["b"], ["offset"])
    other.attribute.append(helper.make_attribute("hidden", [external(tensor("t", [1.0]))]))
    yield (
        "tensors attribute",
        linear_model(COEF, 0.0, extra_nodes=[other], offset="offset"),
        ("attribute 'hidden'"),
    )
    function = function_model()
    function.functions[0].node.append(
        helper.make_node("Constant", [], ["unused"], value=external(tensor("f", [0.0])))
    )
    yield "function", function, "function 'Affine'"
    loop = loop_model(COEF, 0.0)
    loop.graph.node[1].attribute[0].g.initializer.append(external(tensor("in_body", [0.0])))
    yield "Loop body", loop, "attribute 'body' subgraph 0, initializer"
    training = linear_model(COEF, 0.0)
    training.training_info.append(
        onnx.TrainingInfoProto(
            initialization=helper.make_graph([], "init", [], [], [external(tensor("state", [0.0]))])
        )
    )
    yield "training graph", training, "training graph, initializer"


@pytest.mark.parametrize(
    ("case", "model", "where"), list(_external_cases()), ids=[c[0] for c in _external_cases()]
)
def test_external_data_is_refused_wherever_it_hides(case, model, where):
    data = model.SerializeToString()
    assert_reader_agrees(data)
    with pytest.raises(ArtifactError, match="uses ONNX external data") as error:
        audit_onnx(data, file="model.onnx", allow_loop=True)
    message = str(error.value)
    assert message.startswith("model.onnx: tensor ")
    assert where in message and "'secret.txt'" in message


def test_the_crafted_graphs_without_external_data_run_in_onnxruntime():
    """The builders make real graphs: inline, onnxruntime runs them (so the refusals above
    are about the external data, not about broken graphs)."""
    import onnxruntime as ort

    X = np.arange(2 * N_FEATURES, dtype=np.float32).reshape(2, N_FEATURES)
    want = X @ COEF.astype(np.float32) + 0.5
    for model in (
        linear_model(COEF, 0.5),
        if_model(tensor("then_value", [0.5]), coef=COEF),
        loop_model(COEF, 0.5),
    ):
        data = model.SerializeToString()
        session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
        (out,) = session.run(None, {"X": X})
        np.testing.assert_allclose(out.ravel(), want, rtol=1e-6)


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (
            linear_model(
                COEF, 0.0,
                extra_nodes=[helper.make_node("Leak", ["X"], ["offset"], domain="com.example")],
                offset="offset", opsets=(("", 17), ("com.example", 1)),
            ),
            "imports operator domains ['com.example']",
        ),
        (
            linear_model(
                COEF, 0.0,
                extra_nodes=[helper.make_node("Leak", ["X"], ["offset"], domain="com.example")],
                offset="offset",
            ),
            "node 2 (com.example.Leak) is from domain 'com.example'",
        ),
        (
            linear_model(
                COEF, 0.0,
                extra_nodes=[
                    helper.make_node("FusedMatMul", ["X", "W"], ["offset"], domain="com.microsoft")
                ],
                offset="offset", opsets=(("", 17), ("com.microsoft", 1)),
            ),
            "imports operator domains ['com.microsoft']",
        ),
        (function_model(), "defines model-local functions ['local.Affine']"),
        (if_model(tensor("v", [1.0])), "node 2 (If) holds a subgraph"),
        (loop_model(COEF, 0.0), "node 1 (Loop) is a Loop, whose number of iterations can come"),
        (
            scan_model(scan_request=True),
            "this Scan is not of the allowed form: it scans ['X'], which are not tensors stored",
        ),
        (scan_model(scan_request=False, body_op="Add"), "its body uses 'Add'"),
    ],
    ids=[
        "custom domain import", "custom domain node", "com.microsoft", "local function", "If",
        "Loop", "Scan over the request", "Scan body op",
    ],
)  # fmt: skip
def test_refused_graphs(model, message):
    data = model.SerializeToString()
    assert_reader_agrees(data)
    with pytest.raises(ArtifactError, match="^model.onnx: ") as error:
        audit_onnx(data, file="model.onnx")
    assert message in str(error.value)


def test_loop_is_accepted_when_allowed_and_scan_in_the_converters_form():
    audit_onnx(loop_model(COEF, 0.0).SerializeToString(), file="model.onnx", allow_loop=True)
    audit_onnx(scan_model(scan_request=False).SerializeToString(), file="model.onnx")


def test_ort_config_metadata_is_refused():
    model = linear_model(COEF, 0.0)
    helper.set_model_props(model, {"ort_config": '{"session_options": {}}'})
    with pytest.raises(ArtifactError, match="'ort_config', which asks onnxruntime"):
        audit_onnx(model.SerializeToString(), file="model.onnx")


def _field(number: int, wire: int, payload: bytes) -> bytes:
    def varint(n: int) -> bytes:
        out = bytearray()
        while True:
            out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
            n >>= 7
            if not n:
                return bytes(out)

    key = varint(number << 3 | wire)
    return key + (varint(len(payload)) + payload if wire == 2 else payload)


def test_a_second_graph_field_is_refused_though_protobuf_would_merge_it():
    """protobuf merges a repeated singular message: onnx (and onnxruntime) see the Loop of a
    second ``graph`` field appended to an innocent model; the reader refuses the bytes."""
    innocent = linear_model(COEF, 0.0).SerializeToString()
    hidden = loop_model(COEF, 0.0).graph.SerializeToString()
    data = innocent + _field(7, 2, hidden)
    merged = onnx.load_from_string(data)
    assert "Loop" in [n.op_type for n in merged.graph.node]
    with pytest.raises(ArtifactError, match="ModelProto field 7 appears twice"):
        audit_onnx(data, file="model.onnx")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"\x08", "truncated varint"),
        (b"\x08" + b"\xff" * 10 + b"\x01", "varint longer than 10 bytes"),
        (b"\x3a\x05ab", "runs past its message"),
        (_field(99, 0, b"\x01"), "ModelProto has field 99, which this reader does not know"),
        (_field(7, 0, b"\x01"), "ModelProto field 7 has wire type 0"),
        (b"\x0b\x0c", "has wire type 3"),
        (b"\x14\x00\x00\x00ORTM", "ModelProto field 2 has wire type 4"),
        (_field(7, 2, _field(1, 2, _field(4, 2, b"\xff\xfe"))), "an op_type is not valid UTF-8"),
        (_field(1, 0, b"\x08"), "holds no graph"),
    ],
    ids=[
        "empty", "truncated", "overlong varint", "overrun", "unknown field", "wrong wire type",
        "group", "ORT format", "bad UTF-8", "no graph",
    ],
)  # fmt: skip
def test_malformed_bytes_are_refused(data, message):
    with pytest.raises(ArtifactError, match="^model.onnx: ") as error:
        audit_onnx(data, file="model.onnx")
    assert message in str(error.value)


def test_ort_format_bytes_never_reach_onnxruntime_as_such(tmp_path):
    """onnxruntime loads its own (flatbuffer) format from bytes unless told the bytes are
    ONNX: the audit refuses them and the session options name the format."""
    import onnxruntime as ort

    from scoring_explainers.runtime._onnx_model import session_options

    onnx.save(linear_model(COEF, 0.0), tmp_path / "m.onnx")
    tool = "onnxruntime.tools.convert_onnx_models_to_ort"
    subprocess.run(
        [sys.executable, "-m", tool, str(tmp_path / "m.onnx")],
        check=True, capture_output=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    data = (tmp_path / "m.ort").read_bytes()
    assert data[4:8] == b"ORTM"
    ort.InferenceSession(data, providers=["CPUExecutionProvider"])  # loads by default
    with pytest.raises(Exception, match="protobuf parsing failed"):
        ort.InferenceSession(data, session_options(1), providers=["CPUExecutionProvider"])
    with pytest.raises(ArtifactError, match="not a valid ONNX model"):
        audit_onnx(data, file="model.onnx")


def test_nesting_and_size_are_bounded(monkeypatch):
    model = if_model(tensor("v", [1.0]))
    graph = model.graph.node[-2].attribute[0].g  # the then branch
    for _ in range(MAX_GRAPH_DEPTH):
        inner = helper.make_node(
            "If", ["cond"], [f"{graph.name}_out"], then_branch=graph, else_branch=graph
        )
        graph = helper.make_graph([inner], graph.name, [], list(graph.output))
    model.graph.node[-2].attribute[0].g.CopyFrom(graph)
    with pytest.raises(ArtifactError, match=f"graphs nested more than {MAX_GRAPH_DEPTH} deep"):
        audit_onnx(model.SerializeToString(), file="model.onnx")
    # one item more than the bound: empty nodes written directly in the wire format (the
    # bound is lowered for the test; the reader reads it at run time)
    assert MAX_ITEMS == 500_000
    monkeypatch.setattr("scoring_explainers.runtime._onnx_wire.MAX_ITEMS", 1000)
    graph_bytes = _field(1, 2, _field(4, 2, b"")) * 1000  # the graph itself is one item
    with pytest.raises(ArtifactError, match="more than 1000 nodes, attributes, tensors"):
        audit_onnx(_field(7, 2, graph_bytes), file="model.onnx")
    audit_onnx(_field(7, 2, graph_bytes[: -len(_field(1, 2, _field(4, 2, b"")))]), file="x")

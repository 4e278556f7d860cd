"""A small, strict reader of the ONNX protobuf wire format: what the graph audit needs.

The runtime may not import the ``onnx`` package, so :func:`read_model` decodes the bytes of
a ``ModelProto`` itself, down to every place a tensor or a graph can hide:

    ModelProto -> GraphProto -> NodeProto -> AttributeProto -> TensorProto / SparseTensorProto
               -> FunctionProto (-> NodeProto ...)        -> GraphProto (subgraphs, recursively)
               -> TrainingInfoProto (-> GraphProto)

It keeps only names, operator types and domains, opset imports, metadata keys and whether
each tensor's data lives outside the file. It is strict where onnxruntime could see
something it does not: a field number the schema does not define in these messages, a wire
type that does not fit the field, a singular field given twice (protobuf would merge the two
copies), groups, truncated or overlong varints, invalid UTF-8 are all :class:`WireError`.
Messages that cannot hold tensors or graphs (``ValueInfoProto``'s type, ``TypeProto``,
device configurations, annotations) are skipped whole. Bounded: graphs nest at most
:data:`MAX_GRAPH_DEPTH` deep and at most :data:`MAX_ITEMS` nodes, attributes, tensors,
graphs and names are kept in all.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

__all__ = [
    "MAX_GRAPH_DEPTH",
    "MAX_ITEMS",
    "Attribute",
    "Function",
    "Graph",
    "Model",
    "Node",
    "Tensor",
    "WireError",
    "read_model",
]

#: Deepest nesting of graphs (a subgraph of a subgraph ...) accepted.
MAX_GRAPH_DEPTH = 16
#: Most nodes + attributes + tensors + graphs + names kept for one model.
MAX_ITEMS = 500_000
#: Largest input accepted (protobuf's own limit for one message).
MAX_BYTES = 2**31 - 1

VARINT, FIXED64, LEN, FIXED32 = 0, 1, 2, 5
_NUMERIC = {VARINT, LEN}  # a repeated varint field, packed (LEN) or not
_FLOATS = {FIXED32, LEN}
_DOUBLES = {FIXED64, LEN}


class WireError(ValueError):
    """The bytes are not a well-formed ``ModelProto`` (as far as the audit reads it)."""


@dataclass
class Tensor:
    """A ``TensorProto``: its name and where its data is."""

    name: str = ""
    data_location: int = 0
    external_data: list[tuple[str, str]] = field(default_factory=list)

    @property
    def external(self) -> bool:
        """Whether any of the tensor's data would be read from outside the model bytes."""
        return self.data_location != 0 or bool(self.external_data)


@dataclass
class Attribute:
    """An ``AttributeProto``: every tensor and graph it holds, whatever its ``type`` says."""

    name: str = ""
    i: int | None = None
    tensors: list[Tensor] = field(default_factory=list)
    sparse_tensors: list[tuple[Tensor | None, Tensor | None]] = field(default_factory=list)
    graphs: list[Graph] = field(default_factory=list)


@dataclass
class Node:
    """A ``NodeProto``."""

    op_type: str = ""
    domain: str = ""
    name: str = ""
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    attributes: list[Attribute] = field(default_factory=list)


@dataclass
class Graph:
    """A ``GraphProto``."""

    name: str = ""
    nodes: list[Node] = field(default_factory=list)
    initializers: list[Tensor] = field(default_factory=list)
    sparse_initializers: list[tuple[Tensor | None, Tensor | None]] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)


@dataclass
class Function:
    """A model-local ``FunctionProto``."""

    name: str = ""
    domain: str = ""
    nodes: list[Node] = field(default_factory=list)
    attributes: list[Attribute] = field(default_factory=list)
    opset_import: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class Model:
    """A ``ModelProto``: what the audit needs of it."""

    ir_version: int = 0
    opset_import: list[tuple[str, int]] = field(default_factory=list)
    graph: Graph | None = None
    functions: list[Function] = field(default_factory=list)
    metadata_keys: list[str] = field(default_factory=list)
    training_graphs: list[Graph] = field(default_factory=list)


# -- the wire format ------------------------------------------------------------------------
def _varint(buf: memoryview, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end:
            raise WireError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            if shift == 63 and byte > 1:
                raise WireError("varint out of range")
            return result, pos
        shift += 7
        if shift > 63:
            raise WireError("varint longer than 10 bytes")


# Unpacked repeated scalars (tree ensembles hold 10^5-10^6 of them) are skipped a run of one
# tag at a time by a regular expression instead of one Python iteration per element.
_PATTERNS: dict[tuple[bytes, int], re.Pattern[bytes]] = {}
_SCALAR = {
    FIXED32: rb"[\x00-\xff]{4}",
    FIXED64: rb"[\x00-\xff]{8}",
    VARINT: rb"[\x80-\xff]{0,9}[\x00-\x7f]",
}


def _run(tag: bytes, wire: int) -> re.Pattern[bytes]:
    pattern = _PATTERNS.get((tag, wire))
    if pattern is None:
        one = re.escape(tag) + _SCALAR[wire]
        pattern = _PATTERNS[(tag, wire)] = re.compile(rb"(?:" + one + rb")*")
    return pattern


def _string(buf: memoryview, start: int, end: int, what: str) -> str:
    try:
        return str(buf[start:end], "utf-8")
    except UnicodeDecodeError as exc:
        raise WireError(f"{what} is not valid UTF-8") from exc


class _Reader:
    """One pass over one model; counts what it keeps against :data:`MAX_ITEMS`."""

    def __init__(self, data: bytes) -> None:
        self.raw = data
        self.buf = memoryview(data)
        self.items = 0

    def keep(self, n: int = 1) -> None:
        self.items += n
        if self.items > MAX_ITEMS:
            raise WireError(f"more than {MAX_ITEMS} nodes, attributes, tensors and names")

    def walk(self, message: str, start: int, end: int) -> Iterator[tuple[int, int, int]]:
        """Yield ``(field number, value, end)`` for the fields of one message.

        ``value`` is the integer of a varint, the start offset of a length-delimited
        payload (which is ``buf[value:end]``), 0 for fixed-width fields. Unknown fields,
        wrong wire types and repeated singular fields are refused; runs of the unpacked
        scalars in ``_SKIP_RUNS`` are jumped over without being yielded.
        """
        allowed = _SCHEMA[message]
        singular = _SINGULAR[message]
        runs = _SKIP_RUNS.get(message, set())
        seen: set[int] = set()
        buf, raw = self.buf, self.raw
        pos = start
        while pos < end:
            tag_start = pos
            key, pos = _varint(buf, pos, end)
            key_end = pos
            number, wire = key >> 3, key & 7
            wires = allowed.get(number)
            if wires is None:
                raise WireError(f"{message} has field {number}, which this reader does not know")
            if wire not in wires:
                raise WireError(f"{message} field {number} has wire type {wire}")
            if number in singular:
                if number in seen:
                    raise WireError(f"{message} field {number} appears twice")
                seen.add(number)
            value = 0
            if wire == VARINT:
                value, pos = _varint(buf, pos, end)
            elif wire == LEN:
                length, pos = _varint(buf, pos, end)
                if length > end - pos:
                    raise WireError(f"{message} field {number} runs past its message")
                value, pos = pos, pos + length
            else:
                pos += 4 if wire == FIXED32 else 8
                if pos > end:
                    raise WireError(f"{message} field {number} is truncated")
            if number in runs and wire != LEN:
                match = _run(raw[tag_start:key_end], wire).match(raw, pos, end)
                pos = match.end() if match else pos
                continue
            yield number, value, pos

    # -- messages ----------------------------------------------------------------------
    def model(self, start: int, end: int) -> Model:
        model = Model()
        for number, value, stop in self.walk("ModelProto", start, end):
            if number == 1:
                model.ir_version = value
            elif number == 7:
                model.graph = self.graph(value, stop, depth=1)
            elif number == 8:
                model.opset_import.append(self.opset(value, stop))
            elif number == 14:
                model.metadata_keys.append(self.entry(value, stop)[0])
            elif number == 20:
                model.training_graphs.extend(self.training_info(value, stop))
            elif number == 25:
                model.functions.append(self.function(value, stop))
        return model

    def opset(self, start: int, end: int) -> tuple[str, int]:
        self.keep()
        domain, version = "", 0
        for number, value, stop in self.walk("OperatorSetIdProto", start, end):
            if number == 1:
                domain = _string(self.buf, value, stop, "an opset domain")
            else:
                version = value
        return domain, version

    def entry(self, start: int, end: int) -> tuple[str, str]:
        self.keep()
        key = text = ""
        for number, value, stop in self.walk("StringStringEntryProto", start, end):
            if number == 1:
                key = _string(self.buf, value, stop, "a key")
            else:
                text = _string(self.buf, value, stop, "a value")
        return key, text

    def training_info(self, start: int, end: int) -> list[Graph]:
        graphs = []
        for number, value, stop in self.walk("TrainingInfoProto", start, end):
            if number in (1, 2):
                graphs.append(self.graph(value, stop, depth=1))
        return graphs

    def graph(self, start: int, end: int, *, depth: int) -> Graph:
        if depth > MAX_GRAPH_DEPTH:
            raise WireError(f"graphs nested more than {MAX_GRAPH_DEPTH} deep")
        self.keep()
        graph = Graph()
        for number, value, stop in self.walk("GraphProto", start, end):
            if number == 1:
                graph.nodes.append(self.node(value, stop, depth=depth))
            elif number == 2:
                graph.name = _string(self.buf, value, stop, "a graph name")
            elif number == 5:
                graph.initializers.append(self.tensor(value, stop))
            elif number == 15:
                graph.sparse_initializers.append(self.sparse_tensor(value, stop))
            elif number == 11:
                graph.inputs.append(self.value_info_name(value, stop))
            elif number == 12:
                graph.outputs.append(self.value_info_name(value, stop))
        return graph

    def value_info_name(self, start: int, end: int) -> str:
        self.keep()
        name = ""
        for number, value, stop in self.walk("ValueInfoProto", start, end):
            if number == 1:
                name = _string(self.buf, value, stop, "a value name")
        return name

    def node(self, start: int, end: int, *, depth: int) -> Node:
        self.keep()
        node = Node()
        for number, value, stop in self.walk("NodeProto", start, end):
            if number == 1:
                self.keep()
                node.inputs.append(_string(self.buf, value, stop, "a node input"))
            elif number == 2:
                self.keep()
                node.outputs.append(_string(self.buf, value, stop, "a node output"))
            elif number == 3:
                node.name = _string(self.buf, value, stop, "a node name")
            elif number == 4:
                node.op_type = _string(self.buf, value, stop, "an op_type")
            elif number == 7:
                node.domain = _string(self.buf, value, stop, "a node domain")
            elif number == 5:
                node.attributes.append(self.attribute(value, stop, depth=depth))
        return node

    def attribute(self, start: int, end: int, *, depth: int) -> Attribute:
        self.keep()
        attribute = Attribute()
        for number, value, stop in self.walk("AttributeProto", start, end):
            if number == 1:
                attribute.name = _string(self.buf, value, stop, "an attribute name")
            elif number == 3:
                attribute.i = value - (1 << 64) if value >= 1 << 63 else value
            elif number in (5, 10):
                attribute.tensors.append(self.tensor(value, stop))
            elif number in (22, 23):
                attribute.sparse_tensors.append(self.sparse_tensor(value, stop))
            elif number in (6, 11):
                attribute.graphs.append(self.graph(value, stop, depth=depth + 1))
        return attribute

    def tensor(self, start: int, end: int) -> Tensor:
        self.keep()
        tensor = Tensor()
        for number, value, stop in self.walk("TensorProto", start, end):
            if number == 8:
                tensor.name = _string(self.buf, value, stop, "a tensor name")
            elif number == 14:
                tensor.data_location = value
            elif number == 13:
                tensor.external_data.append(self.entry(value, stop))
        return tensor

    def sparse_tensor(self, start: int, end: int) -> tuple[Tensor | None, Tensor | None]:
        self.keep()
        values = indices = None
        for number, value, stop in self.walk("SparseTensorProto", start, end):
            if number == 1:
                values = self.tensor(value, stop)
            elif number == 2:
                indices = self.tensor(value, stop)
        return values, indices

    def function(self, start: int, end: int) -> Function:
        self.keep()
        function = Function()
        for number, value, stop in self.walk("FunctionProto", start, end):
            if number == 1:
                function.name = _string(self.buf, value, stop, "a function name")
            elif number == 10:
                function.domain = _string(self.buf, value, stop, "a function domain")
            elif number == 7:
                function.nodes.append(self.node(value, stop, depth=1))
            elif number == 11:
                function.attributes.append(self.attribute(value, stop, depth=1))
            elif number == 9:
                function.opset_import.append(self.opset(value, stop))
        return function


# -- the schema (onnx.proto, IR version 11) --------------------------------------------------
_S = {LEN}  # strings, bytes, messages
_V = {VARINT}
_SCHEMA: dict[str, dict[int, set[int]]] = {
    "ModelProto": {
        1: _V, 2: _S, 3: _S, 4: _S, 5: _V, 6: _S, 7: _S, 8: _S, 14: _S, 20: _S, 25: _S, 26: _S,
    },
    "OperatorSetIdProto": {1: _S, 2: _V},
    "StringStringEntryProto": {1: _S, 2: _S},
    "TrainingInfoProto": {1: _S, 2: _S, 3: _S, 4: _S},
    "GraphProto": {1: _S, 2: _S, 5: _S, 15: _S, 10: _S, 11: _S, 12: _S, 13: _S, 14: _S, 16: _S},
    "ValueInfoProto": {1: _S, 2: _S, 3: _S, 4: _S},
    "NodeProto": {1: _S, 2: _S, 3: _S, 4: _S, 5: _S, 6: _S, 7: _S, 8: _S, 9: _S, 10: _S},
    "AttributeProto": {
        1: _S, 21: _S, 13: _S, 20: _V, 2: {FIXED32}, 3: _V, 4: _S, 5: _S, 6: _S, 22: _S,
        14: _S, 7: _FLOATS, 8: _NUMERIC, 9: _S, 10: _S, 11: _S, 23: _S, 15: _S,
    },
    "TensorProto": {
        1: _NUMERIC, 2: _V, 3: _S, 4: _FLOATS, 5: _NUMERIC, 6: _S, 7: _NUMERIC, 8: _S,
        12: _S, 9: _S, 13: _S, 14: _V, 10: _DOUBLES, 11: _NUMERIC, 16: _S,
    },
    "SparseTensorProto": {1: _S, 2: _S, 3: _NUMERIC},
    "FunctionProto": {
        1: _S, 4: _S, 5: _S, 6: _S, 11: _S, 7: _S, 8: _S, 9: _S, 10: _S, 13: _S, 12: _S, 14: _S,
    },
}  # fmt: skip
_SINGULAR: dict[str, set[int]] = {
    "ModelProto": {1, 2, 3, 4, 5, 6, 7},
    "OperatorSetIdProto": {1, 2},
    "StringStringEntryProto": {1, 2},
    "TrainingInfoProto": {1, 2},
    "GraphProto": {2, 10},
    "ValueInfoProto": {1, 2, 3},
    "NodeProto": {3, 4, 6, 7, 8},
    "AttributeProto": {1, 21, 13, 20, 2, 3, 4, 5, 6, 22, 14},
    "TensorProto": {2, 3, 8, 12, 9, 14},
    "SparseTensorProto": {1, 2},
    "FunctionProto": {1, 8, 10, 13},
}
# Unpacked repeated scalars that may come by the hundred thousand.
_SKIP_RUNS: dict[str, set[int]] = {
    "AttributeProto": {7, 8},
    "TensorProto": {1, 4, 5, 7, 10, 11},
    "SparseTensorProto": {3},
}


def read_model(data: bytes) -> Model:
    """Decode a serialised ``ModelProto``.

    Parameters
    ----------
    data : bytes

    Returns
    -------
    Model

    Raises
    ------
    WireError
        Malformed bytes, or a message this reader refuses (see the module docstring).
    """
    if len(data) > MAX_BYTES:
        raise WireError(f"larger than {MAX_BYTES} bytes")
    if not data:
        raise WireError("empty")
    try:
        return _Reader(bytes(data)).model(0, len(data))
    except RecursionError as exc:  # pragma: no cover - bounded by MAX_GRAPH_DEPTH
        raise WireError("nested too deep") from exc

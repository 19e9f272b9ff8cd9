"""The files an ONNX model makes its runtime load besides itself (external data), read from the model's
protobuf without the ``onnx`` package (the device has none).

ONNX Runtime and OpenVINO follow a tensor's ``external_data`` ``location`` relative to the model file and
read it unchecked: a bundle that lists only ``model.onnx`` would run whatever ``w.bin`` lies beside it.
:func:`external_files` names every such file so the bundle loader can require it to be listed and
hashed. Only the message path to tensors is walked (model → graph → initializers, sparse initializers,
node attributes and their subgraphs); tensor bytes are skipped by their length, never parsed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from mpt_edge.errors import InputError

# Field numbers of onnx.proto3 (ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto, ...).
_MODEL_GRAPH, _MODEL_FUNCTIONS = 7, 25
_GRAPH_NODE, _GRAPH_INITIALIZER, _GRAPH_SPARSE_INITIALIZER = 1, 5, 15
_FUNCTION_NODE = 7
_NODE_ATTRIBUTE = 5
_ATTRIBUTE_TENSOR, _ATTRIBUTE_GRAPH, _ATTRIBUTE_TENSORS, _ATTRIBUTE_GRAPHS = 5, 6, 10, 11
_ATTRIBUTE_SPARSE_TENSOR, _ATTRIBUTE_SPARSE_TENSORS = 22, 23
_SPARSE_VALUES, _SPARSE_INDICES = 1, 2
_TENSOR_EXTERNAL_DATA = 13
_ENTRY_KEY, _ENTRY_VALUE = 1, 2
_MAX_DEPTH = 32  # nested subgraphs (If/Loop bodies) deeper than this are refused, not recursed into


class _Truncated(Exception):
    pass


def _varint(data: memoryview, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data) or shift > 63:
            raise _Truncated
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7


def _fields(data: memoryview) -> Iterator[tuple[int, memoryview | None]]:
    """(field number, payload) of every field of one message; payload None for non-length fields."""
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            _, at = _varint(data, at)
            yield number, None
        elif wire == 1:
            at += 8
            yield number, None
        elif wire == 5:
            at += 4
            yield number, None
        elif wire == 2:
            length, at = _varint(data, at)
            if at + length > len(data):
                raise _Truncated
            yield number, data[at : at + length]
            at += length
        else:
            raise _Truncated
    if at != len(data):
        raise _Truncated


def _tensor_locations(tensor: memoryview) -> Iterator[str]:
    for number, payload in _fields(tensor):
        if number == _TENSOR_EXTERNAL_DATA and payload is not None:
            entry = {n: bytes(p) for n, p in _fields(payload) if p is not None}
            if entry.get(_ENTRY_KEY) == b"location":
                yield entry.get(_ENTRY_VALUE, b"").decode("utf-8", "replace")


def _sparse_locations(sparse: memoryview) -> Iterator[str]:
    for number, payload in _fields(sparse):
        if number in (_SPARSE_VALUES, _SPARSE_INDICES) and payload is not None:
            yield from _tensor_locations(payload)


def _node_locations(node: memoryview, depth: int) -> Iterator[str]:
    for number, attribute in _fields(node):
        if number != _NODE_ATTRIBUTE or attribute is None:
            continue
        for kind, payload in _fields(attribute):
            if payload is None:
                continue
            if kind in (_ATTRIBUTE_TENSOR, _ATTRIBUTE_TENSORS):
                yield from _tensor_locations(payload)
            elif kind in (_ATTRIBUTE_SPARSE_TENSOR, _ATTRIBUTE_SPARSE_TENSORS):
                yield from _sparse_locations(payload)
            elif kind in (_ATTRIBUTE_GRAPH, _ATTRIBUTE_GRAPHS):
                yield from _graph_locations(payload, depth + 1)


def _graph_locations(graph: memoryview, depth: int) -> Iterator[str]:
    if depth > _MAX_DEPTH:
        raise _Truncated
    for number, payload in _fields(graph):
        if payload is None:
            continue
        if number == _GRAPH_INITIALIZER:
            yield from _tensor_locations(payload)
        elif number == _GRAPH_SPARSE_INITIALIZER:
            yield from _sparse_locations(payload)
        elif number == _GRAPH_NODE:
            yield from _node_locations(payload, depth)


def external_files(model: Path) -> list[str]:
    """The ``location`` of every external-data tensor of the ONNX model ``model``, in order, once each."""
    data = memoryview(Path(model).read_bytes())
    found: list[str] = []
    try:
        for number, payload in _fields(data):
            if payload is None:
                continue
            if number == _MODEL_GRAPH:
                found += _graph_locations(payload, 0)
            elif number == _MODEL_FUNCTIONS:
                for inner, node in _fields(payload):
                    if inner == _FUNCTION_NODE and node is not None:
                        found += _node_locations(node, 0)
    except _Truncated:
        raise InputError(f"{model} is not a readable ONNX model (truncated or damaged); rebuild the bundle") from None
    return list(dict.fromkeys(found))

"""The checks a model file passes before any photo is touched: where its external data lies (before onnxruntime
opens it), its inputs and outputs, its colour contract, and one window run through it.

A file that fails any of them raises ColorizeError with one line, `MODEL: REASON`: colorize-run prints it and
exits 2. The model file is read here with a small protobuf walker (the runtime does not need the onnx package).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from colorize_runtime import colour
from colorize_runtime.errors import ColorizeError

# Inputs a model may have besides its first (the lightness, [N, 1, W, W]); each is fed zeros in the test window.
EXTRA_INPUTS = ("hints", "global_hint")
CONTRACT_NUMBERS = ("L_center", "L_scale", "ab_scale")


# A minimal protobuf reader: just enough of onnx.proto to find every tensor's external data location.
# Field numbers: ModelProto graph 7, training_info 20, functions 25; TrainingInfoProto initialization 1,
# algorithm 2; GraphProto node 1, initializer 5, sparse_initializer 15; NodeProto attribute 5; FunctionProto
# node 7, attribute_proto 11; AttributeProto t 5, g 6, tensors 10, graphs 11, sparse_tensor 22, sparse_tensors 23;
# SparseTensorProto values 1, indices 2; TensorProto external_data 13 (StringStringEntryProto key 1, value 2).
_MODEL = {7: "graph", 20: "training", 25: "function"}
_SCHEMA = {
    "training": {1: "graph", 2: "graph"},
    "graph": {1: "node", 5: "tensor", 15: "sparse"},
    "function": {7: "node", 11: "attribute"},
    "node": {5: "attribute"},
    "attribute": {5: "tensor", 6: "graph", 10: "tensor", 11: "graph", 22: "sparse", 23: "sparse"},
    "sparse": {1: "tensor", 2: "tensor"},
    "tensor": {13: "entry"},
    "entry": {},
}


class _Malformed(Exception):
    pass


def _varint(data: memoryview, position: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if position >= len(data) or shift > 63:
            raise _Malformed
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, position


def _fields(data: memoryview):
    """(field number, value) of one message: length-delimited values as memoryviews, others skipped."""
    position = 0
    while position < len(data):
        key, position = _varint(data, position)
        number, wire = key >> 3, key & 7
        if wire == 0:
            _, position = _varint(data, position)
        elif wire == 1:
            position += 8
        elif wire == 5:
            position += 4
        elif wire == 2:
            length, position = _varint(data, position)
            if position + length > len(data):
                raise _Malformed
            yield number, data[position:position + length]
            position += length
        else:
            raise _Malformed
        if position > len(data):
            raise _Malformed


def external_data_locations(data: bytes) -> list[str]:
    """The external data locations that the tensors of an ONNX model file name (initialisers, constants, sparse
    tensors, subgraphs, functions, training graphs). Raises ValueError for bytes that are not a protobuf."""
    locations: list[str] = []
    pending = [(kind, value) for number, value in _fields_checked(memoryview(data))
               if (kind := _MODEL.get(number))]
    while pending:
        kind, message = pending.pop()
        if kind == "entry":
            entry = dict(_fields_checked(message))
            if bytes(entry.get(1, b"")) == b"location":
                locations.append(bytes(entry.get(2, b"")).decode("utf-8", "replace"))
            continue
        schema = _SCHEMA[kind]
        pending += [(schema[number], value) for number, value in _fields_checked(message) if number in schema]
    return locations


def _fields_checked(data: memoryview) -> list:
    try:
        return list(_fields(data))
    except _Malformed:
        raise ValueError("not a protobuf message") from None


def check_external_data(model_path: Path) -> None:
    """Refuses a model whose tensors name external data outside the model's folder: an absolute path, a path
    through .., or a link that leads out. Whatever onnxruntime's version would do, a model file must not make
    colorize-run read other files the user can read. A file that cannot be parsed is left to onnxruntime."""
    try:
        data = model_path.read_bytes()
    except OSError as error:
        raise ColorizeError(f"{model_path}: cannot read: {error.strerror or error}") from None
    try:
        locations = external_data_locations(data)
    except ValueError:
        return  # onnxruntime says what it is not
    folder = model_path.absolute().parent.resolve()
    for location in locations:
        place = Path(location)
        inside = not place.is_absolute() and ".." not in place.parts and \
            (folder / place).resolve().is_relative_to(folder)
        if not inside:
            raise ColorizeError(f"{model_path}: its external data {location!r} lies outside the model's folder; "
                                "refusing to read it")


def _is_dim(value, size: int) -> bool:
    """A declared dimension that may be size: size itself, or symbolic (a name or None)."""
    return not isinstance(value, int) or value == size


def _describe(nodes) -> str:
    return ", ".join(f"{node.name} {node.shape}" for node in nodes) or "none"


def check_inputs_and_outputs(session, model_path: Path) -> None:
    """The first input is the lightness, float [N, 1, W, W] (W = colour.WINDOW), any others are the guided
    model's (EXTRA_INPUTS); the first output is float ab [N, 2, W, W]."""
    inputs, outputs, window = session.get_inputs(), session.get_outputs(), colour.WINDOW
    shape = inputs[0].shape if inputs else None
    if not inputs or inputs[0].type != "tensor(float)" or len(shape) != 4 or shape[1:] != [1, window, window] \
            or any(node.name not in EXTRA_INPUTS for node in inputs[1:]):
        raise ColorizeError(f"{model_path}: expected one input of shape [N, 1, {window}, {window}] (float), and "
                            f"only {' and '.join(EXTRA_INPUTS)} besides; found {_describe(inputs)}")
    shape = outputs[0].shape if outputs else None
    if not outputs or outputs[0].type != "tensor(float)" or len(shape or ()) != 4 \
            or not all(_is_dim(dim, size) for dim, size in zip(shape[1:], (2, window, window))):
        raise ColorizeError(f"{model_path}: expected a first output of shape [N, 2, {window}, {window}] (float), "
                            f"found {_describe(outputs)}")


def read_contract(session, model_path: Path) -> dict:
    """The colour contract in the model's metadata, checked: a JSON object whose L_center is a finite number,
    L_scale and ab_scale finite and above 0, and window the model's input size."""
    metadata = session.get_modelmeta().custom_metadata_map
    if "colour_contract" not in metadata:
        raise ColorizeError(f"{model_path}: no colour_contract in the model metadata (not a colorize model?)")
    try:
        contract = json.loads(metadata["colour_contract"])
    except ValueError:
        raise ColorizeError(f"{model_path}: its colour_contract is not JSON") from None
    if not isinstance(contract, dict):
        raise ColorizeError(f"{model_path}: its colour_contract is not a JSON object")
    for key in CONTRACT_NUMBERS + ("window",):
        value = contract.get(key)
        number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if key == "window":
            good = number and value == colour.WINDOW
            wanted = f"{colour.WINDOW}, the model's input size"
        else:
            good = number and (key == "L_center" or value > 0)
            wanted = "a finite number" + ("" if key == "L_center" else " above 0")
        if not good:
            raise ColorizeError(f"{model_path}: its colour_contract's {key} must be {wanted}, not "
                                f"{json.dumps(value)}")
    return contract


def _zeros(node, batch: int) -> np.ndarray:
    shape = [dim if isinstance(dim, int) and dim > 0 else batch for dim in node.shape]
    return np.zeros(shape, np.float32)


def try_one_window(session, model_path: Path, contract: dict) -> None:
    """Runs one window of mid-gray through the model (its extra inputs zero): a graph that fails when run, or
    an output of the wrong shape or not finite, is found here, before any photo is read."""
    inputs, window = session.get_inputs(), colour.WINDOW
    lightness = np.full((1, 1, window, window), 50, np.float32)
    feed = {inputs[0].name: colour.normalise_lightness(lightness, contract)}
    feed.update({node.name: _zeros(node, 1) for node in inputs[1:]})
    try:
        output = session.run(None, feed)[0]
    except Exception as error:  # onnxruntime's error types vary by version and kind of failure
        lines = str(error).strip().splitlines()
        raise ColorizeError(f"{model_path}: the model fails on a test window "
                            f"({' '.join(lines[0].split()) if lines else type(error).__name__})") from None
    if not isinstance(output, np.ndarray) or output.shape != (1, 2, window, window):
        raise ColorizeError(f"{model_path}: a test window gave an output of shape "
                            f"{list(getattr(output, 'shape', []))}, not [1, 2, {window}, {window}]")
    if not np.isfinite(output).all():
        raise ColorizeError(f"{model_path}: a test window gave values that are not finite (NaN or infinity)")

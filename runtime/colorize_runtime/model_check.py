"""The checks a model file passes before any photo is touched: where its external data lies (before onnxruntime
opens it), its inputs and outputs, its colour contract, the guided model's hint contract (its ab cells), and one
window run through it (for the guided model, through its hint path).

A file that fails any of them raises ColorizeError with one line, `MODEL: REASON`: colorize-run prints it and
exits 2.
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
MIN_SCALE, MAX_SCALE = 1.0, 1000.0  # of L_scale and ab_scale, in CIELAB units
MAX_AB = 128.0  # CIELAB a and b lie within this of 0 (OpenCV's sRGB conversion: a -86..98, b -108..94)
MIN_CELL_STEP = 1.0  # the ab cells' grid step, at least (a finer one would make a grid of millions of cells)
TEST_PIN_AB = (40.0, 30.0)  # the colour the hint test window pins (CIELAB a, b: a warm orange)


# A small protobuf reader for onnx.proto: enough to find every tensor's external data location, and strict, so
# that nothing onnxruntime could read is passed over. The onnx package would parse the file too, but it is not a
# runtime dependency (tens of megabytes, and its import costs more than the check), and a parser that skips what
# it does not know is what let crafted models through: here a file that does not parse to its end, or that has a
# field onnx.proto does not define in a message that can hold a tensor (a later ONNX's field could carry one), is
# refused. Messages that hold no tensor (types, value infos, opset ids) are skipped whole.
# Per message that can hold a tensor: {field number: the message it holds, followed}, and its other fields. From
# onnx.proto (IR version 11): ModelProto, TrainingInfoProto, GraphProto, FunctionProto, NodeProto,
# AttributeProto, SparseTensorProto, TensorProto and its StringStringEntryProto external_data entries.
_SCHEMA = {
    "model": ({7: "graph", 20: "training", 25: "function"}, {1, 2, 3, 4, 5, 6, 8, 14, 26}),
    "training": ({1: "graph", 2: "graph"}, {3, 4}),
    "graph": ({1: "node", 5: "tensor", 15: "sparse"}, {2, 10, 11, 12, 13, 14, 16}),
    "function": ({7: "node", 11: "attribute"}, {1, 4, 5, 6, 8, 9, 10, 12, 13, 14}),
    "node": ({5: "attribute"}, {1, 2, 3, 4, 6, 7, 8, 9, 10}),
    "attribute": ({5: "tensor", 6: "graph", 10: "tensor", 11: "graph", 22: "sparse", 23: "sparse"},
                  {1, 2, 3, 4, 7, 8, 9, 13, 14, 15, 20, 21}),
    "sparse": ({1: "tensor", 2: "tensor"}, {3}),
    "tensor": ({13: "entry"}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16}),
    "entry": ({}, {1, 2}),
}
_MESSAGE_NAMES = {"model": "ModelProto", "training": "TrainingInfoProto", "graph": "GraphProto",
                  "function": "FunctionProto", "node": "NodeProto", "attribute": "AttributeProto",
                  "sparse": "SparseTensorProto", "tensor": "TensorProto", "entry": "StringStringEntryProto"}


def _varint(data: memoryview, position: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if position >= len(data) or shift > 63:
            raise ValueError("a number runs past the end of its message")
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, position


def _fields(data: memoryview) -> list[tuple[int, int, memoryview | None]]:
    """(field number, wire type, value) of one message, length-delimited values as memoryviews, others None.
    Raises ValueError where the bytes are not a protobuf message to their end."""
    fields, position = [], 0
    while position < len(data):
        key, position = _varint(data, position)
        number, wire, value = key >> 3, key & 7, None
        if wire == 0:
            _, position = _varint(data, position)
        elif wire in (1, 5):
            position += 8 if wire == 1 else 4
        elif wire == 2:
            length, position = _varint(data, position)
            value = data[position:position + length]
            position += length
        else:  # groups (3, 4): onnx.proto has none; 6 and 7 are not wire types
            raise ValueError(f"wire type {wire} in field {number}")
        if position > len(data) or number == 0:
            raise ValueError(f"field {number} runs past the end of its message")
        fields.append((number, wire, value))
    return fields


def external_data_locations(data: bytes) -> list[str]:
    """The external data locations that the tensors of an ONNX model file name (initialisers, constants, sparse
    tensors, subgraphs, functions, training graphs). Raises ValueError for bytes that do not parse to their end,
    a field onnx.proto does not define in a message that can hold a tensor, or a location that is not UTF-8."""
    locations: list[str] = []
    pending = [("model", memoryview(data))]
    while pending:
        kind, message = pending.pop()
        followed, others = _SCHEMA[kind]
        fields = _fields(message)
        for number, wire, value in fields:
            if number in followed and wire == 2:
                pending.append((followed[number], value))
            elif number not in followed and number not in others:
                raise ValueError(f"field {number} of {_MESSAGE_NAMES[kind]}, which onnx.proto does not define")
        if kind == "entry":
            entry = {number: bytes(value) for number, wire, value in fields if wire == 2}
            if entry.get(1) == b"location":
                try:
                    locations.append(entry.get(2, b"").decode("utf-8"))
                except UnicodeDecodeError:
                    raise ValueError("an external data location that is not UTF-8") from None
    return locations


def check_external_data(model_path: Path) -> None:
    """Refuses a model whose tensors name external data outside the model's folder: an absolute path, a path
    through .., a link that leads out, or a name with a NUL byte; and a file that cannot be read through to its
    end (external_data_locations), whose external data could not be checked. Whatever onnxruntime's version would
    do, a model file must not make colorize-run read other files the user can read."""
    try:
        data = model_path.read_bytes()
    except OSError as error:
        raise ColorizeError(f"{model_path}: cannot read: {error.strerror or error}") from None
    try:
        locations = external_data_locations(data)
    except ValueError as error:
        raise ColorizeError(f"{model_path}: not a usable ONNX model (its external data cannot be checked: "
                            f"{error})") from None
    folder = model_path.absolute().parent.resolve()
    for location in locations:
        place = Path(location)
        inside = "\0" not in location and not place.is_absolute() and ".." not in place.parts and \
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
        elif key == "L_center":
            good, wanted = number, "a finite number"
        else:  # L spans 0-100, a and b about -128-127: a scale outside this makes the network's inputs absurd
            good = number and MIN_SCALE <= value <= MAX_SCALE
            wanted = f"a number from {MIN_SCALE:g} to {MAX_SCALE:g}"
        if not good:
            raise ColorizeError(f"{model_path}: its colour_contract's {key} must be {wanted}, not "
                                f"{json.dumps(value)}")
    return contract


def read_ab_cells(session, model_path: Path) -> np.ndarray:
    """The guided model's ab cells (Q, 2) from its hint contract (metadata "hints": {"ab_cells": [[a, b], ...]}),
    checked: one per global hint entry, finite, within the CIELAB range, distinct, and on a regular grid of step
    MIN_CELL_STEP or more (suggestions look for the modes of the distribution on that grid)."""
    needed = (f"{model_path}: a guided model needs a hint contract with its ab cells (metadata \"hints\": "
              "{\"ab_cells\": [[a, b], ...]}, one per global hint entry")
    try:
        cells = np.array(json.loads(session.get_modelmeta().custom_metadata_map["hints"])["ab_cells"], np.float64)
    except (KeyError, TypeError, ValueError):
        raise ColorizeError(needed + ")") from None
    if cells.ndim != 2 or cells.shape[1] != 2 or len(cells) < 2 \
            or session.get_inputs()[2].shape[1:] not in ([len(cells)], ["Q"]):
        raise ColorizeError(needed + ")")
    if not np.isfinite(cells).all() or np.abs(cells).max() > MAX_AB:
        raise ColorizeError(needed + f": CIELAB a, b within {MAX_AB:g} of 0; these are not)")
    steps = [np.diff(np.unique(cells[:, axis])) for axis in (0, 1)]
    step = min(float(np.min(axis_steps)) if len(axis_steps) else np.inf for axis_steps in steps)
    grid = (cells - cells.min(axis=0)) / step if np.isfinite(step) else cells
    on_grid = np.isfinite(step) and step >= MIN_CELL_STEP and np.allclose(grid, np.round(grid), atol=1e-3) \
        and len(np.unique(np.round(grid), axis=0)) == len(cells)
    if not on_grid:
        raise ColorizeError(needed + f": distinct cells on a regular grid, step {MIN_CELL_STEP:g} or more; these "
                            "are not)")
    return cells.astype(np.float32)


def _zeros(node, batch: int) -> np.ndarray:
    shape = [dim if isinstance(dim, int) and dim > 0 else batch for dim in node.shape]
    return np.zeros(shape, np.float32)


def _hint_feed(contract: dict, cells: np.ndarray) -> dict:
    """The guided inputs of a test window that goes through the hint path: a PIN_SIZE pin of TEST_PIN_AB in the
    middle, and an even distribution over the cells as the global hint."""
    from colorize_runtime.guided import PIN_SIZE

    window, middle = colour.WINDOW, slice(colour.WINDOW // 2 - PIN_SIZE // 2, colour.WINDOW // 2 + PIN_SIZE // 2 + 1)
    hints = np.zeros((1, 3, window, window), np.float32)
    hints[0, :2, middle, middle] = (np.float32(TEST_PIN_AB) / np.float32(contract["ab_scale"]))[:, None, None]
    hints[0, 2, middle, middle] = 1
    return {"hints": hints, "global_hint": np.full((1, len(cells)), 1 / len(cells), np.float32)}


def try_one_window(session, model_path: Path, contract: dict, cells: np.ndarray | None = None) -> None:
    """Runs one window of mid-gray through the model: a graph that fails when run, or an output of the wrong
    shape or not finite, is found here, before any photo is read. Its extra inputs are zero, or, for the guided
    model (cells: its ab cells), a pin and a global hint (_hint_feed), and its distribution output must then be
    a finite distribution over the cells at a fraction of the window."""
    inputs, window = session.get_inputs(), colour.WINDOW
    lightness = np.full((1, 1, window, window), 50, np.float32)
    feed = {inputs[0].name: colour.normalise_lightness(lightness, contract)}
    feed.update(_hint_feed(contract, cells) if cells is not None else
                {node.name: _zeros(node, 1) for node in inputs[1:]})
    names = [session.get_outputs()[0].name] + (["distribution"] if cells is not None else [])
    try:
        outputs = session.run(names, feed)
    except Exception as error:  # onnxruntime's error types vary by version and kind of failure
        lines = str(error).strip().splitlines()
        raise ColorizeError(f"{model_path}: the model fails on a test window "
                            f"({' '.join(lines[0].split()) if lines else type(error).__name__})") from None
    output = outputs[0]
    if not isinstance(output, np.ndarray) or output.shape != (1, 2, window, window):
        raise ColorizeError(f"{model_path}: a test window gave an output of shape "
                            f"{list(getattr(output, 'shape', []))}, not [1, 2, {window}, {window}]")
    if not np.isfinite(output).all():
        raise ColorizeError(f"{model_path}: a test window gave values that are not finite (NaN or infinity)")
    if cells is not None:
        _check_distribution(outputs[1], model_path, len(cells))


def _check_distribution(distribution, model_path: Path, count: int) -> None:
    """The guided model's distribution output of a test window: [1, Q, S, S], S dividing the window, each
    location's probabilities finite, not negative and summing to 1."""
    window = colour.WINDOW
    shape = list(getattr(distribution, "shape", []))
    if len(shape) != 4 or shape[:2] != [1, count] or shape[2] != shape[3] or not 0 < shape[2] <= window \
            or window % shape[2]:
        raise ColorizeError(f"{model_path}: a test window gave a distribution of shape {shape}, not [1, {count}, "
                            "S, S] with S dividing the window")
    sums = distribution.sum(axis=1)
    if not (np.isfinite(distribution).all() and distribution.min() >= -1e-4 and np.allclose(sums, 1, atol=1e-2)):
        raise ColorizeError(f"{model_path}: a test window through the hint path gave a distribution that is not "
                            "one (not finite, negative, or not summing to 1)")

"""The all-in-one ONNX file: a uint8 RGB photo of any size in, the colourised uint8 RGB photo out, computed as
`Colorizer(network file).colorize` computes it with the runtime's defaults (`colorize-run --model NAME`), for
apps without our Python code or OpenCV.

    python -m export.allinone      # both shipped all-in-one files, from models/ (each checked, then written):
                                   # models/colorize_natural.onnx -> models/colorize_rgb.onnx (the default model)
                                   # models/colorize.onnx (vivid) -> models/colorize_vivid_rgb.onnx
    python -m export.allinone models/colorize_natural.onnx      # one of them (python -m export writes it too)

The graph, in standard ONNX operators (opset 18), is three parts joined with onnx.compose:

1. ``prepare`` (an onnxscript function): CIELAB L of the photo at full resolution; the working image, reduced as
   `colorizer.scale_down` reduces it (OpenCV INTER_AREA, reproduced: k x k block means first for a large
   reduction, then area weights computed in the graph from the sizes, rounded to 8 bits as OpenCV rounds); its L,
   normalised; the photo and its mirror image, each reflect-padded up to one window; the windows over both.
2. the network (the network file's fixed-window graph, unchanged, its decoding included: natural's muting of
   unsure colours is in colorize_natural.onnx's graph) in an ONNX ``Loop``, one window per
   iteration, so that memory does not grow with the number of windows (a panorama has many).
3. ``finish`` (an onnxscript function): the windows' ab added up where they overlap and divided by the count
   (the runtime's mean blending), times ``saturation``, the mirror view flipped back and averaged with the
   other, scaled up bilinearly to the photo (OpenCV INTER_LINEAR's pixel centres, edges replicated) and combined
   with the full-resolution L; CIELAB -> sRGB, rounded to 8 bits.

The colour formulas are OpenCV's float cvtColor ones (docs/EMBEDDING.md spells them out). Before writing, the
file is compared with the Python runtime on photos of the sizes in PARITY_SIZES, gray and colour; a file that
does not agree within the PARITY_ bounds is not written.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, compose, helper, inliner
from onnxscript import DOUBLE, FLOAT, INT32, INT64, UINT8, script
from onnxscript import opset18 as op

from colorize_runtime import Colorizer, colorizer, files

INPUT, OUTPUT, SATURATION = "rgb", "colorized_rgb", "saturation"
NETWORK_INPUT, NETWORK_OUTPUT = "L", "ab"
OPSET = 18
# (height, width) of the photos the export compares with the Python runtime, each as a colour and a gray photo.
PARITY_SIZES = ((1, 1), (100, 60), (256, 256), (333, 500), (768, 1024), (3000, 4000), (200, 1000))
# The output's uint8 values may differ from the Python runtime's by rounding after float noise: at least this
# share within 1 level, and at least this share within 2.
PARITY_WITHIN_ONE_LEVEL = 0.99
PARITY_WITHIN_TWO_LEVELS = 0.999
SAMPLE_PHOTO = Path(__file__).resolve().parent.parent / "examples" / "sample.jpg"  # the export's real photo
MODELS = Path(__file__).resolve().parent.parent / "models"
# The shipped models that have an all-in-one file (the guided model takes pins, regression is for batch work):
# the default model's is colorize_rgb.onnx, the one apps, the web page and the Node example use; the others' are
# colorize_NAME_rgb.onnx (allinone_path).
ALL_IN_ONE_MODELS = ("natural", "vivid")

# OpenCV's sRGB (D65) matrix, white point and CIE constants (modules/imgproc/src/color_lab.cpp).
XYZ_TO_RGB = np.array([[3.240479, -1.53715, -0.498535],
                       [-0.969256, 1.875991, 0.041556],
                       [0.055648, -0.204043, 1.057311]], np.float32)
WHITE_D65 = (0.950456, 1.0, 1.088754)
Y_WEIGHTS = np.array([[0.212671, 0.715160, 0.072169]], np.float32)  # R, G, B (white's Y is 1)
EPSILON = 216 / 24389  # (6/29)^3: below it CIE f(t) is linear
KAPPA = 24389 / 27     # (29/3)^3: L = KAPPA * Y for Y <= EPSILON
F_SLOPE = 841 / 108    # (29/3)^3 / 116: f(t) = F_SLOPE * t + 16/116 for t <= EPSILON
# The same numbers as onnxscript sees them: it turns a Python value into a constant, an expression into nodes.
ONE_THIRD, F_OFFSET, F_THRESHOLD, INVERSE_116 = 1 / 3, 16 / 116, 6 / 29, 1 / 116
INVERSE_KAPPA, DARK_F_SLOPE, INVERSE_F_SLOPE = 1 / KAPPA, F_SLOPE / KAPPA, 1 / F_SLOPE
AB_TO_F = np.array([[1 / 500], [-1 / 200]], np.float32)          # fx = fy + a / 500, fz = fy - b / 200
WHITE_XZ = np.array([[WHITE_D65[0]], [WHITE_D65[2]]], np.float32)
# OpenCV's area reduction leaves out a sliver of a source pixel narrower than this (computeResizeAreaTab).
AREA_SLIVER = 1e-3


def srgb_decode(v: np.ndarray) -> np.ndarray:
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def srgb_encode(v: np.ndarray) -> np.ndarray:
    return np.where(v <= 0.0031308, v * 12.92, 1.055 * np.maximum(v, 0) ** (1 / 2.4) - 0.055)


# A photo's 8-bit values are looked up, one row per channel (GatherElements is several times faster than Gather in
# onnxruntime, and a table is exact); the rows are the same.
DECODE_LEVELS = np.repeat(srgb_decode(np.arange(256) / 255)[None].astype(np.float32), 3, axis=0)


def _encode_tables(bins: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Linear sRGB v in [0, 1] -> its 8-bit level round(255 * encode(v)) without a power function: v * bins
    (exact, a power of 2) picks a bin; the level is the bin's base level, plus 1 from the bin's threshold on (the
    linear value where the rounded level steps up, 2 where it does not within the bin). Levels are at least
    1 / (255 * 12.92) apart in linear values, more than a bin, so a bin holds at most one step."""
    edges = np.arange(bins + 1) / bins
    base = np.round(255 * srgb_encode(edges))
    steps = srgb_decode((np.arange(1, 256) - 0.5) / 255)  # the linear value where level k - 1 becomes k
    assert np.all(np.diff(steps) > 1 / bins)
    step = steps[np.minimum(base.astype(int), 254)]
    threshold = np.where((base < 255) & (step < edges + 1 / bins), step, 2.0)
    return (np.repeat(base[None].astype(np.float32), 3, axis=0),
            np.repeat(threshold[None].astype(np.float32), 3, axis=0))


ENCODE_BINS = 4096.0
ENCODE_BASE, ENCODE_THRESHOLD = _encode_tables(int(ENCODE_BINS))


@script(default_opset=op)
def lightness_of_levels(levels):
    """8-bit levels [3, N] (INT32; rows R, G, B) -> CIELAB L [N] (FLOAT, 0..100)."""
    luminance = op.Squeeze(op.MatMul(Y_WEIGHTS, op.GatherElements(DECODE_LEVELS, levels, axis=1)), [0])
    return op.Where(luminance > EPSILON, 116.0 * op.Pow(luminance, ONE_THIRD) - 16.0, KAPPA * luminance)


@script(default_opset=op)
def planar_levels(image):
    """[..., 3] 8-bit levels (any type) -> [3, N] INT32, rows R, G, B."""
    return op.Cast(op.Transpose(op.Reshape(image, [-1, 3]), perm=[1, 0]), to=INT32.dtype)


@script(default_opset=op)
def lab_to_levels(lightness, ab):
    """CIELAB L [1, N] and a, b [2, N] -> 8-bit sRGB levels [3, N] (FLOAT, rows R, G, B): OpenCV's float Lab2RGB
    (out-of-gamut colours clipped), then rounding to nearest as its conversion to 8 bits does."""
    dark = lightness <= 8.0
    fy = op.Where(dark, lightness * DARK_F_SLOPE + F_OFFSET, (lightness + 16.0) * INVERSE_116)
    y = op.Where(dark, lightness * INVERSE_KAPPA, fy * fy * fy)
    f = fy + ab * AB_TO_F
    xz = op.Where(f <= F_THRESHOLD, (f - F_OFFSET) * INVERSE_F_SLOPE, f * f * f) * WHITE_XZ
    xyz = op.Concat(op.Slice(xz, [0], [1]), y, op.Slice(xz, [1], [2]), axis=0)
    linear = op.Clip(op.MatMul(XYZ_TO_RGB, xyz), 0.0, 1.0)
    bins = op.Cast(linear * ENCODE_BINS, to=INT32.dtype)
    stepped = op.Cast(linear >= op.GatherElements(ENCODE_THRESHOLD, bins, axis=1), to=FLOAT.dtype)
    return op.GatherElements(ENCODE_BASE, bins, axis=1) + stepped


@script(default_opset=op)
def area_taps(size_in, size_out):
    """OpenCV INTER_AREA along one axis, size_in -> size_out pixels (INT64 [1] each): for each output pixel the
    source pixels it overlaps, index [size_out, taps], and their weights [size_out, taps] (overlap / cell width;
    a tap beyond the source has weight 0)."""
    scale = op.Cast(size_in, to=DOUBLE.dtype) / op.Cast(size_out, to=DOUBLE.dtype)
    first = op.Cast(op.Range(0, op.Squeeze(size_out), 1), to=DOUBLE.dtype) * scale
    last = first + scale
    taps = op.Cast(op.Ceil(scale), to=INT64.dtype) + 1
    source = op.Unsqueeze(op.Floor(first), [1]) + op.Unsqueeze(
        op.Cast(op.Range(0, op.Squeeze(taps), 1), to=DOUBLE.dtype), [0])
    overlap = op.Min(op.Unsqueeze(last, [1]), source + 1.0) - op.Max(op.Unsqueeze(first, [1]), source)
    overlap = op.Where(overlap > AREA_SLIVER, overlap, op.CastLike(0.0, overlap))
    cell = op.Min(scale, op.Cast(size_in, to=DOUBLE.dtype) - first)
    weight = op.Cast(overlap / op.Unsqueeze(cell, [1]), to=FLOAT.dtype)
    index = op.Min(op.Cast(source, to=INT64.dtype), size_in - 1)
    return index, weight


@script(default_opset=op)
def round_levels(values, half_up):
    """Float levels -> the nearest integer as OpenCV's INTER_AREA rounds it: halves up on its exact 2 x 2 path
    ((sum + 2) >> 2), else to even (cvRound)."""
    return op.Where(half_up, op.Floor(values + 0.5), op.Round(values))


@script(default_opset=op)
def area_reduce(image, height, width, size_out):
    """A float [height, width, 3] image of 8-bit levels -> [size_out[0], size_out[1], 3] by OpenCV's INTER_AREA
    (cv2.resize; each row summed along x first, then the rows, the order of OpenCV's sums), rounded to levels."""
    out_height = op.Slice(size_out, [0], [1])
    out_width = op.Slice(size_out, [1], [2])
    column_index, column_weight = area_taps(width, out_width)
    row_index, row_weight = area_taps(height, out_height)
    columns = op.ReduceSum(op.Gather(image, column_index, axis=1) * op.Unsqueeze(column_weight, [0, 3]), [2],
                           keepdims=0)
    reduced = op.ReduceSum(op.Gather(columns, row_index, axis=0) * op.Unsqueeze(row_weight, [2, 3]), [1],
                           keepdims=0)
    exact_halves = op.And(height == out_height * 2, width == out_width * 2)
    return round_levels(reduced, exact_halves)


@script(default_opset=op)
def mirror_index(length, size):
    """Indices 0..length-1 into a side of size pixels, mirrored at its end with the edge pixel repeated (numpy
    "symmetric", OpenCV BORDER_REFLECT): the runtime's padding of a plane smaller than a window."""
    folded = op.Range(0, op.Squeeze(length), 1) % (size * 2)
    return op.Where(folded < size, folded, size * 2 - 1 - folded)


def _stages(contract: dict, size: int, stride: int):
    """The onnxscript functions before and after the network, for this colour contract and the runtime's working
    resolution and stride."""
    window = int(contract["window"])
    l_center, inverse_l_scale = float(contract["L_center"]), 1 / float(contract["L_scale"])
    ab_scale = float(contract["ab_scale"])
    # shapes with the window side in them (onnxscript takes a list literal only when it is all numbers)
    ab_window, ab_rows, ab_row = (np.array(dims, np.int64) for dims in ([2, window, window], [2, window, -1],
                                                                        [2, window]))

    @script(default_opset=op)
    def working_shape(height, width):
        """The working image's [height, width] (INT64 [2]) as Colorizer.predict_colour computes it: short side
        `size` (Python round, halves to even, of the same float64 products), or the photo's when not larger."""
        short = op.Min(height, width)
        scale = op.CastLike(size, op.Cast(short, to=DOUBLE.dtype)) / op.Cast(short, to=DOUBLE.dtype)
        scaled_height = op.Max(op.Cast(op.Round(op.Cast(height, to=DOUBLE.dtype) * scale), to=INT64.dtype), 1)
        scaled_width = op.Max(op.Cast(op.Round(op.Cast(width, to=DOUBLE.dtype) * scale), to=INT64.dtype), 1)
        return op.Where(short > size, op.Concat(scaled_height, scaled_width, axis=0),
                        op.Concat(height, width, axis=0))

    @script(default_opset=op)
    def scale_down(image, height, width, size_out):
        """colorizer.scale_down: k x k block means (OpenCV's integer-factor area path) when the reduction is
        large, then area weights to size_out; an identity for a photo at its working size (k = 1, one tap)."""
        k = op.Max(op.Min(height / op.Slice(size_out, [0], [1]), width / op.Slice(size_out, [1], [2])) / 4, 1)
        block_height = height / k
        block_width = width / k
        cropped = op.Cast(op.Slice(image, op.Constant(value_ints=[0, 0]),
                                   op.Concat(block_height * k, block_width * k, axis=0), [0, 1]), to=FLOAT.dtype)
        # exact integer sums, rows then columns (reductions over one middle axis are onnxruntime's fast ones)
        row_sums = op.ReduceSum(op.Reshape(cropped, op.Concat(block_height, k, [-1], axis=0)), [1], keepdims=0)
        sums = op.ReduceSum(op.Reshape(row_sums, op.Concat(block_height, block_width, k, [3], axis=0)), [2],
                            keepdims=0)
        area = op.Cast(k * k, to=FLOAT.dtype)
        means = sums * (op.CastLike(1.0, area) / area)
        block_levels = round_levels(means, k == 2)
        return area_reduce(block_levels, block_height, block_width, size_out)

    @script(default_opset=op)
    def window_index(padded):
        """[windows, window] indices of the window rows (or columns) along a padded side: offsets every stride,
        the last one flush with the end (colorizer.window_starts)."""
        last = padded - window
        starts = op.Concat(op.Range(0, op.Squeeze(last), stride), last, axis=0)
        return op.Unsqueeze(starts, [1]) + op.Unsqueeze(op.Range(0, window, 1), [0])

    @script(default_opset=op)
    def prepare(rgb: UINT8[1, "H", "W", 3]) -> tuple[FLOAT["N", 1, "S", "S"], FLOAT["H", "W"], INT64[2],
                                                       INT64["R", "S"], INT64["C", "S"]]:
        image = op.Squeeze(rgb, [0])
        shape = op.Shape(image)
        height = op.Slice(shape, [0], [1])
        width = op.Slice(shape, [1], [2])
        lightness = op.Reshape(lightness_of_levels(planar_levels(image)), op.Concat(height, width, axis=0))
        working = working_shape(height, width)
        small = scale_down(image, height, width, working)
        small_height = op.Slice(working, [0], [1])
        small_width = op.Slice(working, [1], [2])
        plane = op.Reshape((lightness_of_levels(planar_levels(small)) - l_center) * inverse_l_scale, working)
        mirrored = op.Gather(plane, small_width - 1 - op.Range(0, op.Squeeze(small_width), 1), axis=1)
        views = op.Concat(op.Unsqueeze(plane, [0]), op.Unsqueeze(mirrored, [0]), axis=0)
        row_index = window_index(op.Max(small_height, window))
        column_index = window_index(op.Max(small_width, window))
        rows = op.Gather(views, op.Gather(mirror_index(op.Max(small_height, window), small_height), row_index),
                         axis=1)
        cut = op.Gather(rows, op.Gather(mirror_index(op.Max(small_width, window), small_width), column_index),
                        axis=3)
        windows = op.Reshape(op.Transpose(cut, perm=[0, 1, 3, 2, 4]),
                             op.Constant(value_ints=[-1, 1, window, window]))
        return windows, lightness, working, row_index, column_index

    @script(default_opset=op)
    def blend_views(window_ab, saturation, working, row_index, column_index):
        """Network outputs [2 * rows * columns, 1, 2, window, window] (the photo's windows, then its mirror's)
        -> ab [2, height, width] at the working resolution: each view's windows added up where they overlap and
        divided by their count (Colorizer.predict_ab), times saturation; the mirror flipped back; the mean."""
        window_rows = op.Shape(row_index, start=0, end=1)
        window_columns = op.Shape(column_index, start=0, end=1)
        padded_height = op.Max(op.Slice(working, [0], [1]), window)
        padded_width = op.Max(op.Slice(working, [1], [2]), window)
        ab = op.Reshape(window_ab, op.Concat([2], window_rows, window_columns, ab_window, axis=0)) * ab_scale
        # along x: [view, row, channel, y, column * window] added into [view, row, channel, y, padded width]
        along_x = op.Reshape(op.Transpose(ab, perm=[0, 1, 3, 4, 2, 5]),
                             op.Concat([2], window_rows, ab_rows, axis=0))
        x_index = op.Expand(op.Reshape(column_index, [-1]), op.Shape(along_x))
        x_total = op.ConstantOfShape(op.Concat([2], window_rows, ab_row, padded_width, axis=0))
        summed_x = op.ScatterElements(x_total, x_index, along_x, axis=4, reduction="add")
        # along y: [view, channel, row * window, padded width] added into [view, channel, padded height, width]
        along_y = op.Reshape(op.Transpose(summed_x, perm=[0, 2, 1, 3, 4]),
                             op.Concat([2, 2, -1], padded_width, axis=0))
        y_index = op.Expand(op.Unsqueeze(op.Reshape(row_index, [-1]), [1]), op.Shape(along_y))
        y_total = op.ConstantOfShape(op.Concat([2, 2], padded_height, padded_width, axis=0))
        summed = op.ScatterElements(y_total, y_index, along_y, axis=2, reduction="add")
        flat_rows = op.Reshape(row_index, [-1])
        flat_columns = op.Reshape(column_index, [-1])
        row_count = op.ScatterElements(op.ConstantOfShape(padded_height), flat_rows,
                                       op.Expand(op.Constant(value_float=1.0), op.Shape(flat_rows)), reduction="add")
        column_count = op.ScatterElements(op.ConstantOfShape(padded_width), flat_columns,
                                          op.Expand(op.Constant(value_float=1.0), op.Shape(flat_columns)),
                                          reduction="add")
        blended = summed * op.Unsqueeze(saturation / row_count, [1]) * (1.0 / column_count)
        cropped = op.Slice(blended, op.Constant(value_ints=[0, 0]), working, [2, 3])
        width = op.Slice(working, [1], [2])
        unmirrored = op.Gather(op.Gather(cropped, [1], axis=0), width - 1 - op.Range(0, op.Squeeze(width), 1),
                               axis=3)
        return (op.Gather(cropped, [0], axis=0) + unmirrored) * 0.5

    @script(default_opset=op)
    def finish(window_ab: FLOAT["N", 1, 2, "S", "S"], lightness: FLOAT["H", "W"], working: INT64[2],
               row_index: INT64["R", "S"], column_index: INT64["C", "S"],
               saturation: FLOAT) -> UINT8[1, "H", "W", 3]:
        ab = blend_views(window_ab, saturation, working, row_index, column_index)
        full_size = op.Concat([1, 2], op.Shape(lightness), axis=0)
        upscaled = op.Resize(ab, None, None, full_size, mode="linear", coordinate_transformation_mode="half_pixel")
        levels = lab_to_levels(op.Reshape(lightness, [1, -1]), op.Reshape(upscaled, [2, -1]))
        rgb = op.Transpose(op.Cast(levels, to=UINT8.dtype), perm=[1, 0])
        return op.Reshape(rgb, op.Concat([1], op.Shape(lightness), [3], axis=0))

    return prepare, finish


def _network_loop(network: onnx.ModelProto) -> onnx.ModelProto:
    """"windows" [N, 1, window, window] -> "window_ab" [N, 1, 2, window, window]: the network graph, its names
    prefixed, as the body of a Loop with one window an iteration."""
    body = compose.add_prefix_graph(network.graph, "network/", rename_inputs=False, rename_outputs=False)
    del body.value_info[:]  # shapes with the network's dynamic batch; inferred again for batch 1
    body.node.insert(0, helper.make_node("Gather", ["windows", "iteration"], ["window"], axis=0))
    body.node.insert(1, helper.make_node("Unsqueeze", ["window", "batch_axis"], [NETWORK_INPUT]))
    body.node.append(helper.make_node("Identity", ["condition"], ["condition_out"]))
    body.initializer.append(onnx.numpy_helper.from_array(np.array([0], np.int64), "batch_axis"))
    window = [1] + [d.dim_value for d in network.graph.input[0].type.tensor_type.shape.dim[1:]]
    del body.input[:], body.output[:]
    body.input.extend([helper.make_tensor_value_info("iteration", TensorProto.INT64, []),
                       helper.make_tensor_value_info("condition", TensorProto.BOOL, [])])
    body.output.extend([helper.make_tensor_value_info("condition_out", TensorProto.BOOL, []),
                        helper.make_tensor_value_info(NETWORK_OUTPUT, TensorProto.FLOAT, [1, 2] + window[2:])])
    body.name = "network_window"
    nodes = [helper.make_node("Shape", ["windows"], ["window_count"], start=0, end=1),
             helper.make_node("Squeeze", ["window_count"], ["trip_count"]),
             helper.make_node("Loop", ["trip_count", ""], ["window_ab"], body=body)]
    graph = helper.make_graph(
        nodes, "network_loop", [helper.make_tensor_value_info("windows", TensorProto.FLOAT, ["N"] + window[1:])],
        [helper.make_tensor_value_info("window_ab", TensorProto.FLOAT, ["N", 1, 2] + window[2:])])
    return helper.make_model(graph, opset_imports=network.opset_import, ir_version=network.ir_version)


def _script_model(function, prefix: str, ir_version: int) -> onnx.ModelProto:
    """An onnxscript function as a model with its helper functions inlined and its inner names prefixed."""
    model = inliner.inline_local_functions(function.to_model_proto())
    del model.opset_import[:]
    model.opset_import.append(helper.make_opsetid("", OPSET))
    model.ir_version = ir_version
    del model.graph.value_info[:]  # onnxscript lists values without types; the shapes are inferred at the end
    return compose.add_prefix(model, prefix, rename_inputs=False, rename_outputs=False)


def metadata_entry(size: int, stride: int) -> dict:
    """What the all-in-one file adds to the network's metadata (key ``all_in_one``)."""
    return {
        "input": f"{INPUT}: uint8 [1, H, W, 3], any H, W >= 1, sRGB, channels R, G, B (a gray photo: three equal "
                 f"channels); {SATURATION}: float32 scalar, 1 as predicted, 0 gray (colorize-run --saturation)",
        "output": f"{OUTPUT}: uint8 [1, H, W, 3], sRGB, channels R, G, B; the input's own lightness kept",
        "working_resolution": size,
        "stride": stride,
        "mirror": True,
        "blend": "mean",
        "pipeline": "colorize_runtime.Colorizer().colorize defaults: area reduction to the working resolution, "
                    "windows reflect-padded, mean blending, mirror averaged, ab scaled up bilinearly, full-size L",
        "colour_conversion": "inside the graph: OpenCV's float sRGB <-> CIELAB formulas (D65, sRGB gamma)",
    }


def build(network: onnx.ModelProto, size: int, stride: int) -> onnx.ModelProto:
    """The network's ModelProto ("L" -> "ab", colour_contract metadata) -> the all-in-one ModelProto for the
    runtime's working resolution `size` and `stride` (mean blending, mirror on)."""
    metadata = {p.key: p.value for p in network.metadata_props}
    prepare, finish = _stages(json.loads(metadata["colour_contract"]), size, stride)
    before = _script_model(prepare, "prepare/", network.ir_version)
    after = _script_model(finish, "finish/", network.ir_version)
    returned, after.graph.output[0].name = after.graph.output[0].name, OUTPUT
    for node in after.graph.node:
        node.output[:] = [OUTPUT if name == returned else name for name in node.output]
    model = compose.merge_models(before, _network_loop(network), io_map=[("windows", "windows")])
    handed_on = ["window_ab", "lightness", "working", "row_index", "column_index"]
    model = compose.merge_models(model, after, io_map=[(name, name) for name in handed_on])
    (saturation,) = [value for value in model.graph.input if value.name == SATURATION]
    saturation.CopyFrom(helper.make_tensor_value_info(SATURATION, TensorProto.FLOAT, []))  # a scalar
    model.graph.name = "colorize_rgb"
    del model.metadata_props[:]
    for key, value in metadata.items():
        model.metadata_props.add(key=key, value=value)
    model.metadata_props.add(key="all_in_one", value=json.dumps(metadata_entry(size, stride)))
    model = onnx.shape_inference.infer_shapes(model)
    onnx.checker.check_model(model, full_check=True)
    return model


def allinone_path(network_path: Path) -> Path:
    """The all-in-one file's path beside a network file: a shipped model's file by its model name
    (colorize_natural.onnx, the default model's, -> colorize_rgb.onnx; colorize.onnx, vivid's, ->
    colorize_vivid_rgb.onnx), any other NAME.onnx -> NAME_rgb.onnx."""
    names = {file_name: name for name, file_name in colorizer.SHIPPED_MODELS.items()}
    name = names.get(network_path.name)
    if name == colorizer.DEFAULT_MODEL:
        return network_path.with_name("colorize_rgb.onnx")
    if name is not None:
        return network_path.with_name(f"colorize_{name}_rgb.onnx")
    return network_path.with_name(f"{network_path.stem}_rgb.onnx")


def shipped_network(name: str) -> Path:
    """models/ file of a shipped model (the repository's, which the package installs), by its name."""
    return MODELS / colorizer.SHIPPED_MODELS[name]


def shares_within(got: np.ndarray, expected: np.ndarray) -> tuple[float, float]:
    """Shares of the uint8 values of got within 1 and within 2 levels of expected."""
    difference = np.abs(got.astype(np.int16) - expected)
    return float(np.mean(difference <= 1)), float(np.mean(difference <= 2))


def agrees(shares: tuple[float, float]) -> bool:
    """Whether shares_within meet the parity bounds."""
    return shares[0] >= PARITY_WITHIN_ONE_LEVEL and shares[1] >= PARITY_WITHIN_TWO_LEVELS


def parity_photos(photo_path: Path) -> dict[str, np.ndarray]:
    """The photo resized to each of PARITY_SIZES (area reduction, or cubic enlargement), as BGR and as gray."""
    photo = cv2.imread(str(photo_path), cv2.IMREAD_COLOR)
    if photo is None:
        raise SystemExit(f"export: {photo_path}: not a readable photo for the all-in-one parity check")
    photos = {}
    for height, width in PARITY_SIZES:
        smaller = height * width < photo.shape[0] * photo.shape[1]
        colour = cv2.resize(photo, (width, height), interpolation=cv2.INTER_AREA if smaller else cv2.INTER_CUBIC)
        photos[f"{height}x{width} colour"] = colour
        photos[f"{height}x{width} gray"] = cv2.cvtColor(colour, cv2.COLOR_BGR2GRAY)
    return photos


def as_rgb(photo: np.ndarray) -> np.ndarray:
    """A gray (H, W) or BGR (H, W, 3) uint8 photo -> the all-in-one input [1, H, W, 3] (gray: three equal channels)."""
    rgb = np.repeat(photo[..., None], 3, axis=2) if photo.ndim == 2 else photo[..., ::-1]
    return np.ascontiguousarray(rgb[None])


def feeds(photo: np.ndarray, saturation: float = 1.0) -> dict[str, np.ndarray]:
    """The all-in-one file's inputs for a gray or BGR uint8 photo."""
    return {INPUT: as_rgb(photo), SATURATION: np.array(saturation, np.float32)}


def parity(session: ort.InferenceSession, reference: Colorizer, photos: dict[str, np.ndarray]) -> dict:
    """Per photo, shares_within of the all-in-one output against reference.colorize (RGB order)."""
    results = {}
    for name, photo in photos.items():
        got = session.run(None, feeds(photo))[0][0]
        results[name] = shares_within(got, reference.colorize(photo)[..., ::-1])
    return results


def write(network_path: Path, photo_path: Path, output: Path | None = None) -> Path:
    """Build the all-in-one file for an exported network file with the runtime's defaults, compare it with the
    Python runtime (Colorizer on the network file, defaults) on photo_path at every PARITY_SIZES, gray and
    colour, and write it (atomically; beside the network file unless output) only if every photo agrees."""
    reference = Colorizer(network_path, providers="cpu")
    if reference.blend != "mean" or not reference.mirror or reference.size is None:
        raise SystemExit("export: the all-in-one graph does the runtime's default path (working resolution, mean "
                         "blending, mirror); the runtime's defaults have changed")
    model = build(onnx.load(network_path), reference.size, reference.stride)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    results = parity(session, reference, parity_photos(photo_path))
    for name, (within_one, within_two) in results.items():
        print(f"parity all-in-one vs Python runtime, {photo_path.name} at {name}: {within_one:.4%} of values within "
              f"1 level, {within_two:.4%} within 2")
    failed = [name for name, shares in results.items() if not agrees(shares)]
    if failed:
        raise SystemExit(f"export: the all-in-one model differs from the Python runtime on {', '.join(failed)} "
                         f"(needed: {PARITY_WITHIN_ONE_LEVEL:.0%} of values within 1 level and "
                         f"{PARITY_WITHIN_TWO_LEVELS:.1%} within 2); not written")
    output = output or allinone_path(network_path)
    with files.replacing(output) as temporary:
        onnx.save_model(model, temporary, save_as_external_data=False)
    print(f"wrote {output}: {output.stat().st_size / 1e6:.2f} MB")
    return output


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m export.allinone", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("network", type=Path, nargs="*",
                        help="exported network files (default: the shipped models' files in models/, "
                             f"{', '.join(ALL_IN_ONE_MODELS)})")
    parser.add_argument("-o", "--output", type=Path,
                        help="with one NETWORK only (default: beside it, colorize_rgb.onnx for the default model's "
                             "colorize_natural.onnx, colorize_NAME_rgb.onnx for another shipped model's file, "
                             "else NETWORK's stem + _rgb.onnx)")
    parser.add_argument("--photo", type=Path, default=SAMPLE_PHOTO, help="real photo for the parity check")
    args = parser.parse_args(argv)
    networks = args.network or [shipped_network(name) for name in ALL_IN_ONE_MODELS]
    if args.output and len(networks) != 1:
        parser.error("-o/--output needs exactly one NETWORK")
    for network in networks:
        write(network, args.photo, args.output)


if __name__ == "__main__":
    main()

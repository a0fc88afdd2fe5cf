"""The all-in-one ONNX file: uint8 RGB photo in, uint8 RGB colourised photo out, for apps without OpenCV.

It wraps the trained network's graph ("L" -> "ab") with the colour contract written in standard ONNX operators
(opset 18), so that the app only decodes and encodes images:

    rgb uint8 [1, 256, 256, 3] -> /255 -> sRGB gamma decode -> Y -> CIELAB L -> (L - L_center) / L_scale -> "L"
    "ab" * ab_scale, with the same L -> CIELAB to XYZ (D65) -> linear sRGB, clipped -> sRGB gamma encode
    -> round(255 x), clipped -> colorized_rgb uint8 [1, 256, 256, 3]

The formulas and constants are those of OpenCV's float cvtColor, which colour.py uses (docs/EMBEDDING.md spells
them out). OpenCV evaluates its float RGB->Lab through a 33^3 lookup table, so its L differs from the exact
formula by up to about 0.2; the parity check below bounds what that does to the output pixels.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from colorize_runtime import Colorizer
from export.photo import centre_window

INPUT, OUTPUT = "rgb", "colorized_rgb"
NETWORK_INPUT, NETWORK_OUTPUT = "L", "ab"
# A pixel value may differ from the Python runtime's by 1 level (rounding after float noise): at least this share
# of the values must be within that.
PARITY_SHARE_WITHIN_ONE_LEVEL = 0.99

# OpenCV's sRGB (D65) matrices, white point and CIE constants (modules/imgproc/src/color_lab.cpp).
RGB_TO_XYZ = np.array([[0.412453, 0.357580, 0.180423],
                       [0.212671, 0.715160, 0.072169],
                       [0.019334, 0.119193, 0.950227]])
XYZ_TO_RGB = np.array([[3.240479, -1.53715, -0.498535],
                       [-0.969256, 1.875991, 0.041556],
                       [0.055648, -0.204043, 1.057311]])
WHITE_D65 = (0.950456, 1.0, 1.088754)
EPSILON = 216 / 24389  # (6/29)^3: below it CIE f(t) is linear
KAPPA = 24389 / 27     # (29/3)^3: L = KAPPA * Y for Y <= EPSILON
F_SLOPE = 841 / 108    # (29/3)^3 / 116: f(t) = F_SLOPE * t + 16/116 for t <= EPSILON


def metadata_entry() -> dict:
    """What the all-in-one file adds to the network's metadata (key ``all_in_one``)."""
    return {
        "input": f"{INPUT}: uint8 [1, 256, 256, 3], sRGB, channels R, G, B (a gray photo: three equal channels)",
        "output": f"{OUTPUT}: uint8 [1, 256, 256, 3], sRGB, channels R, G, B; the input's own lightness kept",
        "colour_conversion": "inside the graph: OpenCV's float sRGB <-> CIELAB formulas (D65, sRGB gamma)",
    }


class _Nodes:
    """Collects nodes and constant initializers under one name prefix (no clash with the network's names)."""

    def __init__(self, prefix: str) -> None:
        self.prefix, self.nodes, self.constants = prefix, [], []

    def const(self, value, dtype=np.float32) -> str:
        name = f"{self.prefix}const_{len(self.constants)}"
        self.constants.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, op_type: str, *inputs: str, output: str | None = None, **attributes) -> str:
        output = output or f"{self.prefix}{op_type.lower()}_{len(self.nodes)}"
        self.nodes.append(helper.make_node(op_type, list(inputs), [output], **attributes))
        return output

    def where_le(self, x: str, threshold: float, low: str, high: str) -> str:
        return self.op("Where", self.op("LessOrEqual", x, self.const(threshold)), low, high)

    def poly(self, x: str, scale: float, offset: float, output: str | None = None) -> str:
        """scale * x + offset"""
        return self.op("Add", self.op("Mul", x, self.const(scale)), self.const(offset), output=output)


def _rgb_to_normalised_lightness(g: _Nodes, contract: dict) -> str:
    """uint8 RGB NHWC -> "L" [1, 1, 256, 256] (the network input); returns the name of CIELAB L (NCHW)."""
    srgb = g.op("Mul", g.op("Cast", INPUT, to=TensorProto.FLOAT), g.const(1 / 255))
    decoded = g.op("Pow", g.poly(srgb, 1 / 1.055, 0.055 / 1.055), g.const(2.4))
    linear = g.where_le(srgb, 0.04045, g.op("Mul", srgb, g.const(1 / 12.92)), decoded)
    y_weights = RGB_TO_XYZ[1][:, None] / WHITE_D65[1]
    y = g.op("Transpose", g.op("MatMul", linear, g.const(y_weights)), perm=[0, 3, 1, 2])
    above = g.poly(g.op("Pow", y, g.const(1 / 3)), 116, -16)
    lightness = g.where_le(y, EPSILON, g.op("Mul", y, g.const(KAPPA)), above)
    g.poly(lightness, 1 / contract["L_scale"], -contract["L_center"] / contract["L_scale"], output=NETWORK_INPUT)
    return lightness


def _lab_to_rgb(g: _Nodes, lightness: str, contract: dict) -> None:
    """CIELAB L [1, 1, H, W] and the network's "ab" [1, 2, H, W] -> uint8 RGB NHWC output."""
    ab = g.op("Mul", NETWORK_OUTPUT, g.const(contract["ab_scale"]))
    a, b = (g.op("Slice", ab, g.const([start], np.int64), g.const([start + 1], np.int64), g.const([1], np.int64))
            for start in (0, 1))
    fy_dark = g.poly(lightness, F_SLOPE / KAPPA, 16 / 116)  # from y = L / KAPPA
    fy = g.where_le(lightness, 8.0, fy_dark, g.poly(lightness, 1 / 116, 16 / 116))
    y = g.where_le(lightness, 8.0, g.op("Mul", lightness, g.const(1 / KAPPA)), g.op("Pow", fy, g.const(3.0)))

    def f_inverse(f: str, white: float) -> str:
        linear = g.poly(f, white / F_SLOPE, -white * 16 / 116 / F_SLOPE)
        return g.where_le(f, 6 / 29, linear, g.op("Mul", g.op("Pow", f, g.const(3.0)), g.const(white)))

    x = f_inverse(g.op("Add", fy, g.op("Mul", a, g.const(1 / 500))), WHITE_D65[0])
    z = f_inverse(g.op("Sub", fy, g.op("Mul", b, g.const(1 / 200))), WHITE_D65[2])
    xyz = g.op("Transpose", g.op("Concat", x, y, z, axis=1), perm=[0, 2, 3, 1])
    linear = g.op("Clip", g.op("MatMul", xyz, g.const(XYZ_TO_RGB.T)), g.const(0.0), g.const(1.0))
    encoded = g.poly(g.op("Pow", linear, g.const(1 / 2.4)), 1.055, -0.055)
    srgb = g.where_le(linear, 0.0031308, g.op("Mul", linear, g.const(12.92)), encoded)
    levels = g.op("Clip", g.poly(srgb, 255, 0.5), g.const(0.0), g.const(255.0))
    g.op("Cast", g.op("Floor", levels), to=TensorProto.UINT8, output=OUTPUT)


def build(network: onnx.ModelProto) -> onnx.ModelProto:
    """The network's ModelProto ("L" -> "ab", colour_contract metadata) -> the all-in-one ModelProto."""
    metadata = {p.key: p.value for p in network.metadata_props}
    contract = json.loads(metadata["colour_contract"])
    window = int(contract["window"])
    g = _Nodes("allinone_")
    lightness = _rgb_to_normalised_lightness(g, contract)
    before = list(g.nodes)
    _lab_to_rgb(g, lightness, contract)
    after = g.nodes[len(before):]

    model = onnx.ModelProto()
    model.CopyFrom(network)
    graph = model.graph
    del graph.value_info[:]  # shapes with the network's dynamic batch; re-inferred below for batch 1
    nodes = before + list(graph.node) + after
    del graph.node[:]
    graph.node.extend(nodes)
    graph.initializer.extend(g.constants)
    image_shape = [1, window, window, 3]
    del graph.input[:], graph.output[:]
    graph.input.append(helper.make_tensor_value_info(INPUT, TensorProto.UINT8, image_shape))
    graph.output.append(helper.make_tensor_value_info(OUTPUT, TensorProto.UINT8, image_shape))
    graph.name = "colorize_rgb"
    model.metadata_props.add(key="all_in_one", value=json.dumps(metadata_entry()))
    model = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    onnx.checker.check_model(model, full_check=True)
    return model


def allinone_path(network_path: Path) -> Path:
    """models/colorize.onnx -> models/colorize_rgb.onnx"""
    return network_path.with_name(f"{network_path.stem}_rgb.onnx")


def share_within_one_level(got: np.ndarray, expected: np.ndarray) -> float:
    """Share of the uint8 pixel values of got that differ from expected by at most 1 level."""
    return float(np.mean(np.abs(got.astype(np.int16) - expected) <= 1))


def parity_with_runtime(model: onnx.ModelProto, network_path: Path, photo: np.ndarray) -> float:
    """share_within_one_level of the all-in-one model against the Python runtime (on the network file, native
    resolution, one view: the file runs the network once), for a BGR uint8 256 x 256 photo."""
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    got = session.run(None, {INPUT: np.ascontiguousarray(photo[None, ..., ::-1])})[0][0]
    expected = Colorizer(network_path, providers="cpu", size=None, mirror=False).colorize(photo)[..., ::-1]
    return share_within_one_level(got, expected)


def write(network_path: Path, photo_path: Path) -> Path:
    """Build the all-in-one file from an exported network file, check it against the Python runtime on the
    centre window of a real photo, and write it beside the network file; returns its path."""
    model = build(onnx.load(network_path))
    share = parity_with_runtime(model, network_path, centre_window(photo_path))
    if share < PARITY_SHARE_WITHIN_ONE_LEVEL:
        raise SystemExit(f"export: the all-in-one model differs from the Python runtime by more than 1 level on "
                         f"{1 - share:.2%} of the pixel values of {photo_path.name}")
    output = allinone_path(network_path)
    tmp = output.with_name(output.name + ".tmp")
    onnx.save_model(model, tmp, save_as_external_data=False)
    tmp.replace(output)
    print(f"parity all-in-one vs Python runtime, photo {photo_path.name}: {share:.2%} of values within 1 level")
    print(f"wrote {output}: {output.stat().st_size / 1e6:.2f} MB")
    return output

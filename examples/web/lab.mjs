// The colour contract's formulas (docs/EMBEDDING.md) and the window arithmetic of the runtime, in plain
// JavaScript for the browser and Node.js alike: the web page's guided colour (guided.js) and the Node example
// (examples/node/colorize.mjs) import them from here.

// OpenCV's sRGB (D65) constants, as in docs/EMBEDDING.md.
const RGB_TO_XYZ = [
  [0.412453, 0.35758, 0.180423],
  [0.212671, 0.71516, 0.072169],
  [0.019334, 0.119193, 0.950227],
];
const WHITE = [0.950456, 1.0, 1.088754];
const EPSILON = 216 / 24389;
const KAPPA = 24389 / 27;
const F_SLOPE = 841 / 108;

const decodeGamma = (v) => (v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
const encodeGamma = (v) => (v <= 0.0031308 ? v * 12.92 : 1.055 * v ** (1 / 2.4) - 0.055);

/** The linear value of each 8-bit sRGB level. */
export const DECODE = Float64Array.from({ length: 256 }, (_, level) => decodeGamma(level / 255));

// Linear -> 8-bit level without a power function (as the all-in-one file does it): v * BINS picks a bin; the
// level is the bin's base, plus 1 from the bin's threshold on (the linear value where the rounded level steps up).
// Levels are at least 1 / (255 * 12.92) apart in linear values, more than a bin, so a bin holds at most one step.
const BINS = 4096;
const BASE = new Uint8Array(BINS + 1);
const THRESHOLD = new Float64Array(BINS + 1);
for (let bin = 0; bin <= BINS; bin++) {
  const base = Math.round(255 * encodeGamma(bin / BINS));
  const step = base < 255 ? decodeGamma((base + 0.5) / 255) : 2; // where base becomes base + 1
  BASE[bin] = base;
  THRESHOLD[bin] = step < (bin + 1) / BINS ? step : 2;
}

/** Linear sRGB (clipped to [0, 1]) -> its 8-bit level, floor(255 * encode(v) + 0.5). */
function level(linear) {
  if (!(linear > 0)) return 0;
  if (linear >= 1) return 255;
  const bin = (linear * BINS) | 0;
  return linear >= THRESHOLD[bin] ? BASE[bin] + 1 : BASE[bin];
}

const f = (t) => (t > EPSILON ? Math.cbrt(t) : (KAPPA * t + 16) / 116);

/** CIELAB L of an sRGB pixel (0..255 channels). */
export function lightness(r, g, b) {
  const y = RGB_TO_XYZ[1][0] * DECODE[r] + RGB_TO_XYZ[1][1] * DECODE[g] + RGB_TO_XYZ[1][2] * DECODE[b];
  return y > EPSILON ? 116 * Math.cbrt(y) - 16 : KAPPA * y;
}

/** CIELAB [L, a, b] of an sRGB pixel (0..255 channels): the contract's float conversion, exactly. */
export function rgbToLab(r, g, b) {
  const rgb = [DECODE[r], DECODE[g], DECODE[b]];
  const [x, y, z] = RGB_TO_XYZ.map((row, c) => (row[0] * rgb[0] + row[1] * rgb[1] + row[2] * rgb[2]) / WHITE[c]);
  return [y > EPSILON ? 116 * Math.cbrt(y) - 16 : KAPPA * y, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))];
}

/** CIELAB -> sRGB, 0..255 integers (out-of-gamut colours clipped) written at out[offset..offset + 2]. */
export function labToRgb(l, a, b, out, offset) {
  const [x, y, z] = labToXyz(l, a, b);
  toLevels(x, y, z, out, offset);
}

/** True when CIELAB l, a, b is an sRGB colour (linear red, green and blue within [0, 1], to 1e-9). */
export function inGamut(l, a, b) {
  const [x, y, z] = labToXyz(l, a, b);
  return XYZ_TO_RGB.every(([fromX, fromY, fromZ]) => {
    const linear = fromX * x + fromY * y + fromZ * z;
    return linear >= -1e-9 && linear <= 1 + 1e-9;
  });
}

function labToXyz(l, a, b) {
  let fy, y;
  if (l <= 8) {
    y = l / KAPPA;
    fy = (F_SLOPE * l) / KAPPA + 16 / 116;
  } else {
    fy = (l + 16) / 116;
    y = fy * fy * fy;
  }
  return [WHITE[0] * fInverse(fy + a / 500), y, WHITE[2] * fInverse(fy - b / 200)];
}

const fInverse = (v) => (v <= 6 / 29 ? (v - 16 / 116) / F_SLOPE : v * v * v);

const XYZ_TO_RGB = [
  [3.240479, -1.53715, -0.498535],
  [-0.969256, 1.875991, 0.041556],
  [0.055648, -0.204043, 1.057311],
];
const [[RX, RY, RZ], [GX, GY, GZ], [BX, BY, BZ]] = XYZ_TO_RGB;

/** XYZ -> sRGB, 0..255 integers (clipped) written at out[offset..offset + 2]. */
function toLevels(x, y, z, out, offset) {
  out[offset] = level(RX * x + RY * y + RZ * z);
  out[offset + 1] = level(GX * x + GY * y + GZ * z);
  out[offset + 2] = level(BX * x + BY * y + BZ * z);
}

const [[XR, XG, XB], [YR, YG, YB], [ZR, ZG, ZB]] = RGB_TO_XYZ;

/** An sRGB image with its colour scaled in CIELAB: each pixel's a and b times saturation, its L kept, out-of-gamut
 * colours clipped; labToRgb(rgbToLab(pixel)) with a, b scaled, without the arrays (12 MP in about a second).
 * source, target: RGBA bytes (ImageData.data), the alpha copied. The web page applies its saturation slider so,
 * to the network's colours at saturation 1, instead of running the network again (docs/EMBEDDING.md). */
export function saturate(source, target, saturation) {
  for (let i = 0; i < source.length; i += 4) {
    const r = DECODE[source[i]], g = DECODE[source[i + 1]], b = DECODE[source[i + 2]];
    const y = YR * r + YG * g + YB * b;
    const fy = f(y); // L's; a = 500 (fx - fy) and b = 200 (fy - fz) scale with fx - fy and fz - fy
    const fx = fy + saturation * (f((XR * r + XG * g + XB * b) / WHITE[0]) - fy);
    const fz = fy + saturation * (f((ZR * r + ZG * g + ZB * b) / WHITE[2]) - fy);
    toLevels(WHITE[0] * fInverse(fx), y, WHITE[2] * fInverse(fz), target, i);
    target[i + 3] = source[i + 3];
  }
}

/** "#rrggbb" of CIELAB L, a, b (out-of-gamut colours clipped). */
export function labHex(l, a, b) {
  const rgb = new Uint8Array(3);
  labToRgb(l, a, b, rgb, 0);
  return `#${[...rgb].map((v) => v.toString(16).padStart(2, "0")).join("")}`;
}

/** Window offsets covering [0, length): every stride, the last one flush with the end (length >= window). */
export function windowStarts(length, window, stride) {
  const starts = [];
  for (let s = 0; s < length - window; s += stride) starts.push(s);
  starts.push(length - window);
  return starts;
}

/** Mirror index with the edge pixel repeated (numpy "symmetric", OpenCV BORDER_REFLECT). */
export function mirror(i, n) {
  const j = i % (2 * n);
  return j < n ? j : 2 * n - 1 - j;
}

/** An ONNX file's metadata_props (ModelProto field 14), read with a minimal protobuf walk: JSON values decoded.
 * onnxruntime-web and onnxruntime-node have no API for them. */
export function readMetadata(bytes) {
  const text = new TextDecoder();
  let pos = 0;
  const varint = () => {
    let value = 0, shift = 0, byte;
    do {
      byte = bytes[pos++];
      value += (byte & 0x7f) * 2 ** shift;
      shift += 7;
    } while (byte & 0x80);
    return value;
  };
  const fields = (end, onString) => {
    while (pos < end) {
      const tag = varint(), field = Math.floor(tag / 8), wire = tag % 8;
      if (wire === 0) varint();
      else if (wire === 1) pos += 8;
      else if (wire === 5) pos += 4;
      else if (wire === 2) {
        const length = varint(), start = pos;
        pos += length;
        onString(field, start, pos);
      } else throw new Error(`unsupported protobuf wire type ${wire}`);
    }
  };
  const metadata = {};
  fields(bytes.length, (field, start, end) => {
    if (field !== 14) return;
    const entry = {};
    pos = start;
    fields(end, (f, s, e) => { entry[f] = text.decode(bytes.subarray(s, e)); });
    metadata[entry[1]] = JSON.parse(entry[2]);
  });
  return metadata;
}

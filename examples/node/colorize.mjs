#!/usr/bin/env node
// Colourise a photo with a colorize ONNX file from Node.js: no Python, no OpenCV. Follows docs/EMBEDDING.md.
//
//   node colorize.mjs MODEL.onnx INPUT.(png|jpg) OUTPUT.(png|jpg) [--stride N] [--saturation F]
//
// MODEL is either file:
//   colorize_rgb.onnx  the all-in-one file, uint8 RGB in and out, any size: what `colorize-run` does by default
//                      (working resolution, mirror) happens inside the graph.
//   colorize.onnx      "L" -> "ab": this script does the colour conversion and slides 256x256 windows over the
//                      photo at its native resolution, one view (`colorize-run --size full`); --stride N.
// --saturation F scales the predicted colour with either file (1: as predicted, 0: gray).
import { readFileSync, writeFileSync } from "node:fs";
import { extname } from "node:path";
import * as ort from "onnxruntime-node";
import jpeg from "jpeg-js";
import { PNG } from "pngjs";

// OpenCV's sRGB (D65) constants, as in docs/EMBEDDING.md.
const RGB_TO_Y = [0.212671, 0.71516, 0.072169];
const XYZ_TO_RGB = [
  [3.240479, -1.53715, -0.498535],
  [-0.969256, 1.875991, 0.041556],
  [0.055648, -0.204043, 1.057311],
];
const WHITE = [0.950456, 1.0, 1.088754];
const EPSILON = 216 / 24389;
const KAPPA = 24389 / 27;
const F_SLOPE = 841 / 108;

/** The model's metadata_props (ModelProto field 14), read with a minimal protobuf walk: JSON values decoded. */
function readMetadata(bytes) {
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
    fields(end, (f, s, e) => { entry[f] = Buffer.from(bytes.subarray(s, e)).toString("utf8"); });
    metadata[entry[1]] = JSON.parse(entry[2]);
  });
  return metadata;
}

function readImage(path) {
  const data = readFileSync(path);
  const ext = extname(path).toLowerCase();
  const image = ext === ".png" ? PNG.sync.read(data) : jpeg.decode(data, { useTArray: true });
  return { width: image.width, height: image.height, rgba: image.data }; // gray PNGs come back as equal R, G, B
}

function writeImage(path, width, height, rgb) {
  const rgba = Buffer.alloc(width * height * 4, 255);
  for (let i = 0; i < width * height; i++) rgba.set(rgb.subarray(3 * i, 3 * i + 3), 4 * i);
  const ext = extname(path).toLowerCase();
  const encoded = ext === ".png" ? PNG.sync.write({ width, height, data: rgba })
    : jpeg.encode({ width, height, data: rgba }, 95).data;
  writeFileSync(path, encoded);
}

const decodeGamma = (v) => (v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
const encodeGamma = (v) => (v <= 0.0031308 ? v * 12.92 : 1.055 * v ** (1 / 2.4) - 0.055);

/** CIELAB L of an sRGB pixel (0..255 channels). */
function lightness(r, g, b) {
  const y = RGB_TO_Y[0] * decodeGamma(r / 255) + RGB_TO_Y[1] * decodeGamma(g / 255) + RGB_TO_Y[2] * decodeGamma(b / 255);
  return y > EPSILON ? 116 * Math.cbrt(y) - 16 : KAPPA * y;
}

/** CIELAB -> sRGB, 0..255 integers. */
function labToRgb(l, a, b, out, offset) {
  const fy = l <= 8 ? (F_SLOPE * l) / KAPPA + 16 / 116 : (l + 16) / 116;
  const finv = (f) => (f <= 6 / 29 ? (f - 16 / 116) / F_SLOPE : f ** 3);
  const xyz = [finv(fy + a / 500) * WHITE[0], l <= 8 ? l / KAPPA : fy ** 3, finv(fy - b / 200) * WHITE[2]];
  for (let c = 0; c < 3; c++) {
    const row = XYZ_TO_RGB[c];
    const linear = Math.min(1, Math.max(0, row[0] * xyz[0] + row[1] * xyz[1] + row[2] * xyz[2]));
    out[offset + c] = Math.min(255, Math.max(0, Math.floor(encodeGamma(linear) * 255 + 0.5)));
  }
}

/** Window offsets covering [0, length): every stride, the last one flush with the end (length >= window). */
function windowStarts(length, window, stride) {
  const starts = [];
  for (let s = 0; s < length - window; s += stride) starts.push(s);
  starts.push(length - window);
  return starts;
}

/** Mirror index with the edge pixel repeated (numpy "symmetric", OpenCV BORDER_REFLECT). */
function mirror(i, n) {
  const j = i % (2 * n);
  return j < n ? j : 2 * n - 1 - j;
}

async function colorizeWithNetwork(session, metadata, image, stride, saturation) {
  const contract = metadata.colour_contract;
  const win = contract.window;
  const { width: w, height: h, rgba } = image;
  const L = new Float64Array(w * h);
  for (let i = 0; i < w * h; i++) L[i] = lightness(rgba[4 * i], rgba[4 * i + 1], rgba[4 * i + 2]);
  // Normalised L, padded at the bottom and right up to one window by mirroring.
  const ph = Math.max(h, win), pw = Math.max(w, win);
  const input = new Float32Array(ph * pw);
  for (let y = 0; y < ph; y++) {
    for (let x = 0; x < pw; x++) {
      input[y * pw + x] = (L[mirror(y, h) * w + mirror(x, w)] - contract.L_center) / contract.L_scale;
    }
  }
  const abSum = new Float64Array(2 * ph * pw), count = new Float64Array(ph * pw);
  const patch = new Float32Array(win * win);
  for (const y0 of windowStarts(ph, win, stride)) {
    for (const x0 of windowStarts(pw, win, stride)) {
      for (let y = 0; y < win; y++) patch.set(input.subarray((y0 + y) * pw + x0, (y0 + y) * pw + x0 + win), y * win);
      const feeds = { [session.inputNames[0]]: new ort.Tensor("float32", patch, [1, 1, win, win]) };
      const ab = (await session.run(feeds))[session.outputNames[0]].data; // [1, 2, win, win]
      for (let y = 0; y < win; y++) {
        for (let x = 0; x < win; x++) {
          const p = (y0 + y) * pw + x0 + x;
          abSum[p] += ab[y * win + x];
          abSum[ph * pw + p] += ab[win * win + y * win + x];
          count[p] += 1;
        }
      }
    }
  }
  const rgb = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const p = y * pw + x, scale = (contract.ab_scale * saturation) / count[p];
      labToRgb(L[y * w + x], abSum[p] * scale, abSum[ph * pw + p] * scale, rgb, 3 * (y * w + x));
    }
  }
  return rgb;
}

/** The all-in-one file: inputs "rgb" (uint8 [1, H, W, 3]) and "saturation" (float32 scalar). */
async function colorizeAllInOne(session, image, saturation) {
  const { width, height, rgba } = image;
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    rgb[3 * i] = rgba[4 * i];
    rgb[3 * i + 1] = rgba[4 * i + 1];
    rgb[3 * i + 2] = rgba[4 * i + 2];
  }
  const feeds = {
    rgb: new ort.Tensor("uint8", rgb, [1, height, width, 3]),
    saturation: new ort.Tensor("float32", Float32Array.of(saturation), []),
  };
  return (await session.run(feeds)).colorized_rgb.data;
}

/** Removes "--name VALUE" from argv and returns VALUE as a number (fallback when absent). */
function numberOption(argv, name, fallback) {
  const at = argv.indexOf(name);
  if (at < 0) return fallback;
  const value = Number(argv.splice(at, 2)[1]);
  if (!Number.isFinite(value)) throw new UsageError(`${name} needs a number`);
  return value;
}

class UsageError extends Error {}

const USAGE = "usage: node colorize.mjs MODEL.onnx INPUT.(png|jpg) OUTPUT.(png|jpg) [--stride N] [--saturation F]";

async function main(argv) {
  let stride, saturation;
  try {
    stride = numberOption(argv, "--stride", undefined);
    saturation = numberOption(argv, "--saturation", 1);
    if (argv.length !== 3) throw new UsageError("three paths are needed");
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`colorize: ${error.message}\n${USAGE}`);
    return 2;
  }
  const [modelPath, inputPath, outputPath] = argv;
  const bytes = readFileSync(modelPath);
  const metadata = readMetadata(bytes);
  if (!metadata.colour_contract) throw new Error(`${modelPath}: no colour_contract in the metadata`);
  const session = await ort.InferenceSession.create(bytes);
  const image = readImage(inputPath);
  const window = metadata.colour_contract.window;
  const rgb = session.inputNames.includes("rgb")
    ? await colorizeAllInOne(session, image, saturation)
    : await colorizeWithNetwork(session, metadata, image, stride ?? window / 2, saturation);
  writeImage(outputPath, image.width, image.height, rgb);
  console.log(`wrote ${outputPath}: ${image.width} x ${image.height}`);
  return 0;
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (error) => {
  console.error(`colorize: ${error.message}`);
  process.exitCode = 1;
});

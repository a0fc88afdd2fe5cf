#!/usr/bin/env node
// Colourise a photo with a colorize ONNX file from Node.js: no Python, no OpenCV. Follows docs/EMBEDDING.md.
//
//   node colorize.mjs MODEL.onnx INPUT.(png|jpg) OUTPUT.(png|jpg) [--stride N] [--saturation F]
//
// MODEL is either kind of file (models/):
//   colorize_rgb.onnx  the all-in-one file of the default model (natural), uint8 RGB in and out, any size:
//                      `colorize-run PHOTO`'s colours, its default path (working resolution, mirror) inside the
//                      graph. colorize_vivid_rgb.onnx is the same for `colorize-run --model vivid`.
//   colorize_natural.onnx, colorize.onnx (vivid)   a network file, "L" -> "ab": this script does the colour
//                      conversion and slides 256x256 windows over the photo at its native resolution, one view
//                      (`colorize-run --model NAME --size full`); --stride N.
// --saturation F scales the predicted colour with either file (1: as predicted, 0: gray).
import { readFileSync, writeFileSync } from "node:fs";
import { extname } from "node:path";
import * as ort from "onnxruntime-node";
import jpeg from "jpeg-js";
import { PNG } from "pngjs";
import { labToRgb, lightness, mirror, readMetadata, windowStarts } from "../web/lab.mjs";

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

// The page's logic: decode the photo in the browser, run the all-in-one file (models/colorize_rgb.onnx: the
// default model's, natural, so the automatic view is `colorize-run PHOTO`'s) with
// onnxruntime-web's WASM backend once per photo, show it before | after, apply the saturation slider to the
// network's colours (lab.mjs, no second run), save PNG or JPEG. Nothing leaves the browser. Pins and a reference
// photo steer from that automatic view with the guided file (guided.js); without them the page shows the
// automatic view again, as it was.
// docs/EMBEDDING.md describes the file's inputs and outputs and this page's limits.
import { Guide } from "./guided.js";
import { saturate } from "./lab.mjs";

// onnxruntime-web, imported as the page starts rather than statically, so that its absence (npm ci not run in
// examples/web) is said on the page instead of leaving it "Loading the model…" for ever.
const ORT_DIRECTORY = new URL("node_modules/onnxruntime-web/dist/", import.meta.url).href;

// ?model=URL loads another all-in-one file (../../models/colorize_vivid_rgb.onnx: vivid; the tests use a freshly
// exported one).
const MODEL_URL = new URLSearchParams(location.search).get("model") ?? "../../models/colorize_rgb.onnx";
// ?guided=URL: the guided file for pins and a reference photo (guided.js), loaded when a photo is opened.
const GUIDED_URL = new URLSearchParams(location.search).get("guided") ?? "../../models/colorize_guided.onnx";
// Larger photos are refused before decoding. The WASM heap is 4 GiB at most: in Chromium a 61 MP photo
// worked and a 75 MP one ran out of it (std::bad_alloc); see docs/EMBEDDING.md.
const MAX_PIXELS = 60_000_000;

const $ = (id) => document.getElementById(id);
let ort = null; // the onnxruntime-web module, once imported
let session = null;
let photo = null; // { name, width, height, rgb: Uint8Array, alpha: Uint8Array | null }
let automatic = null; // { photo, image: ImageData, seconds }: the network's colours of the photo, saturation 1
let colouredFor = null; // the saturation of the colour canvas, or null
let busy = false;
let runs = 0; // runs of the network (the tests check that the slider adds none)
let modelError = null; // why onnxruntime-web or the model could not be loaded

const WORKING = new Set(["loading", "decoding", "running"]); // states that show the progress bar

/** The page's state (body data-state, for the tests too), its status line and the progress bar. */
function show(state, message, error = false) {
  document.body.dataset.state = state;
  $("status").textContent = message;
  $("status").classList.toggle("error", error);
  $("progress").hidden = !WORKING.has(state);
  $("progress").removeAttribute("value"); // indeterminate: onnxruntime says nothing while it runs
  if (state === "done") $("photos").classList.remove("uncoloured");
  const ready = state === "done";
  $("download-png").disabled = !ready;
  $("download-jpeg").disabled = !ready;
}

// sRGB <-> linear (the formulas of docs/EMBEDDING.md), for the gray view only: the colours come from the model.
const DECODE = Float32Array.from({ length: 256 }, (_, v) => {
  const s = v / 255;
  return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
});
const encode = (v) => (v <= 0.0031308 ? 12.92 * v : 1.055 * v ** (1 / 2.4) - 0.055);

/** The photo's lightness as a gray image (a, b = 0): what the network is given. */
function grayView(width, height, rgb) {
  const image = new ImageData(width, height);
  const out = image.data;
  for (let i = 0, j = 0; i < rgb.length; i += 3, j += 4) {
    const y = 0.212671 * DECODE[rgb[i]] + 0.71516 * DECODE[rgb[i + 1]] + 0.072169 * DECODE[rgb[i + 2]];
    out[j] = out[j + 1] = out[j + 2] = Math.round(255 * encode(y));
    out[j + 3] = 255;
  }
  return image;
}

function paint(canvas, image) {
  canvas.width = image.width;
  canvas.height = image.height;
  canvas.getContext("2d").putImageData(image, 0, 0);
}

/** A File -> { width, height, rgb, alpha }: upright (EXIF orientation applied), the file's own pixel values. */
async function decode(file) {
  const bitmap = await createImageBitmap(file, {
    imageOrientation: "from-image", colorSpaceConversion: "none", premultiplyAlpha: "none",
  });
  const { width, height } = bitmap;
  if (width * height > MAX_PIXELS) {
    bitmap.close();
    throw new Error(`${width} × ${height} is ${(width * height / 1e6).toFixed(1)} MP; this page takes up to ` +
      `${MAX_PIXELS / 1e6} MP (use colorize-run for larger photos)`);
  }
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.drawImage(bitmap, 0, 0);
  bitmap.close();
  const rgba = context.getImageData(0, 0, width, height).data;
  const rgb = new Uint8Array(width * height * 3);
  let alpha = null;
  for (let i = 0, j = 0; j < rgba.length; i += 3, j += 4) {
    rgb[i] = rgba[j];
    rgb[i + 1] = rgba[j + 1];
    rgb[i + 2] = rgba[j + 2];
    if (rgba[j + 3] !== 255 && alpha === null) alpha = new Uint8Array(width * height).fill(255);
    if (alpha !== null) alpha[j / 4] = rgba[j + 3];
  }
  return { width, height, rgb, alpha };
}

/** The network's colours of the photo at saturation 1, alpha kept: one run of the all-in-one file. */
async function runNetwork({ width, height, rgb, alpha }) {
  show("running", `Colouring ${width} × ${height} on ${ort.env.wasm.numThreads} thread(s)…`);
  const feeds = {
    rgb: new ort.Tensor("uint8", rgb.slice(), [1, height, width, 3]), // a copy: the worker takes its buffer
    saturation: new ort.Tensor("float32", Float32Array.of(1), []),
  };
  const start = performance.now();
  const coloured = (await session.run(feeds)).colorized_rgb.data;
  const seconds = (performance.now() - start) / 1000;
  document.body.dataset.runs = ++runs;
  const image = new ImageData(width, height);
  for (let i = 0, j = 0; i < coloured.length; i += 3, j += 4) {
    image.data[j] = coloured[i];
    image.data[j + 1] = coloured[i + 1];
    image.data[j + 2] = coloured[i + 2];
    image.data[j + 3] = alpha === null ? 255 : alpha[j / 4];
  }
  return { image, seconds };
}

/** The automatic view (the network's colours of the photo) at saturation. */
function automaticView(saturation) {
  const { image } = automatic;
  if (saturation === 1) return image;
  const shown = new ImageData(image.width, image.height);
  saturate(image.data, shown.data, saturation);
  return shown;
}

async function colour(saturation) {
  // the automatic view first, always: pins and a reference steer from it, and "compare" shows it
  if (automatic?.photo !== photo) automatic = { photo, ...await runNetwork(photo) };
  if (guide.steering) { // pins or a reference: the guided file, its pipeline in guided.js
    await guide.colour(saturation);
    colouredFor = saturation;
    return;
  }
  const version = guide.version;
  paint($("colour"), automaticView(saturation));
  colouredFor = saturation;
  const { image, seconds } = automatic;
  document.body.dataset.seconds = seconds.toFixed(3);
  guide.shown(version);
  show("done", `Coloured ${image.width} × ${image.height} in ${seconds.toFixed(2)} s on ` +
    `${ort.env.wasm.numThreads} thread(s), saturation ${saturation.toFixed(2)}.`);
  guide.prefetch();
}

/** Runs colour() for the photo and the slider's saturation, again if either changed during a run. */
async function update() {
  if (busy || photo === null || session === null) return; // a photo chosen while the model loads waits for it
  busy = true;
  try {
    let current, version;
    do {
      current = photo;
      version = guide.version;
      await colour(Number($("saturation").value));
    } while (current !== photo || colouredFor !== Number($("saturation").value) || version !== guide.version);
  } catch (error) {
    show("error", `Could not colour the photo: ${error.message ?? error}`, true);
  } finally {
    busy = false;
  }
}

async function open(file) {
  if (!file) return;
  show("decoding", `Reading ${file.name}…`);
  try {
    const decoded = await decode(file);
    paint($("gray"), grayView(decoded.width, decoded.height, decoded.rgb));
    Object.assign($("colour"), { width: decoded.width, height: decoded.height }); // blank until coloured
    $("photos").classList.add("uncoloured"); // the photo itself is shown until then
    photo = { name: file.name.replace(/\.[^.]*$/, "") || "photo", ...decoded };
    guide.setPhoto(photo);
  } catch (error) {
    show("error", `Could not read ${file.name}: ${error.message ?? error}`, true);
    return;
  }
  if (session === null && modelError === null) {
    show("loading", `Loading the model… ${file.name} will be coloured once it has loaded.`);
  } else if (session === null) {
    show("error", modelError, true);
  }
  await update();
}

function download(type, extension) {
  $("colour").toBlob((blob) => {
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = `${photo.name}_color.${extension}`; // colorize-run's output name
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
  }, type, 0.95);
}

const guide = new Guide({ get ort() { return ort; }, url: GUIDED_URL, canvas: $("colour"), show, decode,
  rerun: update,
  automaticView: () => (automatic?.photo === photo ? automaticView(Number($("saturation").value)) : null) });
$("file").addEventListener("change", (event) => open(event.target.files[0]));
$("drop").addEventListener("dragover", (event) => { event.preventDefault(); $("drop").classList.add("over"); });
$("drop").addEventListener("dragleave", () => $("drop").classList.remove("over"));
$("drop").addEventListener("drop", (event) => {
  event.preventDefault();
  $("drop").classList.remove("over");
  open(event.dataTransfer.files[0]);
});
$("saturation").addEventListener("input", () => {
  $("saturation-value").textContent = Number($("saturation").value).toFixed(2);
  update(); // the colours at hand rescaled, no network run (several moves while one is drawn: the last is drawn)
});
$("before-after").addEventListener("input", () => { // the photo before colouring over the left part of it
  $("gray").style.clipPath = `inset(0 ${100 - Number($("before-after").value)}% 0 0)`;
});
$("download-png").addEventListener("click", () => download("image/png", "png"));
$("download-jpeg").addEventListener("click", () => download("image/jpeg", "jpg"));

/** The bytes at url; onProgress(share received) as they arrive, when the server says how many there are. */
async function fetchBytes(url, onProgress) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`HTTP ${response.status} ${response.statusText}`);
  const total = Number(response.headers.get("Content-Length"));
  const chunks = [];
  let received = 0;
  for (const reader = response.body.getReader(); ;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    received += value.length;
    if (total) onProgress(received / total);
  }
  const bytes = new Uint8Array(received);
  chunks.reduce((offset, chunk) => (bytes.set(chunk, offset), offset + chunk.length), 0);
  return bytes;
}

/** onnxruntime-web, then the model (its download shown by the progress bar); throws with what went wrong. */
async function loadModel() {
  try {
    ort = await import(`${ORT_DIRECTORY}ort.wasm.min.mjs`);
  } catch (error) {
    throw new Error(`Could not load onnxruntime-web from examples/web/node_modules/: run npm ci --omit=dev in ` +
      `examples/web (${error.message ?? error})`);
  }
  ort.env.wasm.wasmPaths = ORT_DIRECTORY;
  // Threads need SharedArrayBuffer, which browsers allow only on a cross-origin isolated page (serve.py's headers).
  ort.env.wasm.numThreads = self.crossOriginIsolated ? navigator.hardwareConcurrency : 1;
  ort.env.wasm.proxy = true; // the network runs in a worker, so the page stays responsive
  try {
    const bytes = await fetchBytes(MODEL_URL, (share) => {
      if (document.body.dataset.state === "loading") $("progress").value = share;
    });
    return await ort.InferenceSession.create(bytes, { executionProviders: ["wasm"] });
  } catch (error) {
    throw new Error(`Could not load the model ${MODEL_URL}: ${error.message ?? error}`);
  }
}

show("loading", "Loading the model…");
try {
  session = await loadModel();
  if (photo === null) {
    show("ready", `Model loaded (${ort.env.wasm.numThreads} thread(s)${self.crossOriginIsolated ? "" :
      "; serve the page with the cross-origin isolation headers for more"}). Choose a photo.`);
  }
  await update(); // the photo chosen while the model loaded, if any
} catch (error) {
  modelError = error.message;
  show("error", modelError, true);
}

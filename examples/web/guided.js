// Colour the person steers, in the page: pins (a colour at a point), suggested colours at a point and a reference
// photo, with the guided network (models/colorize_guided.onnx) run by onnxruntime-web. Nothing leaves the browser.
//
// The pipeline is colorize-run's (colorize_runtime Colorizer.predict_ab with guided.py and pins.py), in
// JavaScript: the photo reduced to the working resolution (short side 160, OpenCV INTER_AREA), its lightness in
// 256 x 256 windows every 128 px, the photo and its mirror image, each pin a 3 x 3 square of the hint input at the
// working resolution, the reference's colour distribution as the global hint, the windows' ab averaged, the two
// views averaged; then the reference's colours carried over (transferReference) and the pins acting where they are
// put (pinnedColour), a, b scaled back up bilinearly and combined with the full-resolution lightness.
// docs/EMBEDDING.md ("Guided colour in the page") has the file's hint contract; tests/test_web_guided.py compares
// the page with colorize-run.
import { inGamut, labHex, labToRgb, lightness, mirror, readMetadata, rgbToLab, windowStarts } from "./lab.mjs";

// colorize-run's defaults (Colorizer: size 160, stride half a window, mirror on at a working resolution)
const WORKING_SIZE = 160;
// guided.py's constants
const REFERENCE_SHORT_SIDE = 256;
const REFERENCE_PIXELS = 4096;
const MIN_REFERENCE_CHROMA = 2;
const SUGGESTIONS = 8;
const SUGGESTION_SPACING = 20;
const SUGGESTION_SMOOTHING = 7;
const MIN_SUGGESTION_SHARE = 0.005;
const REFERENCE_TRANSFER = 0.3;
const REFERENCE_LIGHTNESS_BINS = 10;
const MAX_REFERENCE_STRENGTH = 3;
// pins.py's constants (pinnedColour says what they do; tests/test_web_guided.py fails if they drift apart)
const STEP_COST = 1;
const EDGE_COST_L = 2;
const EDGE_COST_AB = 1;
const REACH = 1;
const LIGHTNESS_TOLERANCE = 10;
const NETWORK_REACH = 0.1;
const NETWORK_REACH_CAP = 1;
const NETWORK_TOLERANCE = 25;
const BLEND_SHARPNESS = 4;
const SCAN_ROUNDS = 2;
// the page's own
const AREA_SLIVER = 1e-3; // OpenCV's area reduction leaves out a sliver of a source pixel narrower than this
const WINDOWS_PER_RUN = 4;
const RUNS_KEPT = 4; // network runs of a photo kept by the page (its automatic colour and the latest pins)

/** Python's round(): halves to even. */
function roundHalfEven(x) {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** OpenCV INTER_AREA along one axis, sizeIn -> sizeOut: for each output pixel the source pixels it overlaps and
 * their weights (overlap / cell width, slivers left out), as export/allinone.py's area_taps. */
function areaTaps(sizeIn, sizeOut) {
  const scale = sizeIn / sizeOut, taps = Math.ceil(scale) + 1;
  const index = new Int32Array(sizeOut * taps), weight = new Float64Array(sizeOut * taps);
  for (let o = 0; o < sizeOut; o++) {
    const first = o * scale, last = first + scale, cell = Math.min(scale, sizeIn - first);
    for (let t = 0; t < taps; t++) {
      const source = Math.floor(first) + t;
      const overlap = Math.min(last, source + 1) - Math.max(first, source);
      index[o * taps + t] = Math.min(source, sizeIn - 1);
      weight[o * taps + t] = overlap > AREA_SLIVER ? overlap / cell : 0;
    }
  }
  return { index, weight, taps };
}

/** OpenCV's rounding of an area reduction: halves up on its exact 2 x 2 path, else to even. */
const roundLevel = (value, halfUp) => (halfUp ? Math.floor(value + 0.5) : roundHalfEven(value));

/** RGB levels (h x w x 3) -> (outHeight x outWidth x 3) by cv2.resize INTER_AREA: rows summed along x first. */
function areaReduce(levels, h, w, outHeight, outWidth) {
  const columns = areaTaps(w, outWidth), rows = areaTaps(h, outHeight);
  const across = new Float64Array(h * outWidth * 3);
  for (let y = 0; y < h; y++) {
    for (let o = 0; o < outWidth; o++) {
      for (let t = 0; t < columns.taps; t++) {
        const weight = columns.weight[o * columns.taps + t];
        if (weight === 0) continue;
        const from = 3 * (y * w + columns.index[o * columns.taps + t]), to = 3 * (y * outWidth + o);
        for (let c = 0; c < 3; c++) across[to + c] += levels[from + c] * weight;
      }
    }
  }
  const halfUp = h === 2 * outHeight && w === 2 * outWidth;
  const out = new Uint8Array(outHeight * outWidth * 3);
  for (let o = 0; o < outHeight; o++) {
    for (let x = 0; x < outWidth * 3; x++) {
      let sum = 0;
      for (let t = 0; t < rows.taps; t++) {
        const weight = rows.weight[o * rows.taps + t];
        if (weight !== 0) sum += across[rows.index[o * rows.taps + t] * outWidth * 3 + x] * weight;
      }
      out[o * outWidth * 3 + x] = roundLevel(sum, halfUp);
    }
  }
  return out;
}

/** colorizer.scale_down: exact k x k block means first when the reduction is large, then area weights. */
function scaleDown(rgb, height, width, outHeight, outWidth) {
  const k = Math.floor(Math.min(Math.floor(height / outHeight), Math.floor(width / outWidth)) / 4);
  if (k < 2) return areaReduce(rgb, height, width, outHeight, outWidth);
  const bh = Math.floor(height / k), bw = Math.floor(width / k);
  const sums = new Float64Array(bh * bw * 3);
  for (let y = 0; y < bh * k; y++) {
    for (let x = 0; x < bw * k; x++) {
      const from = 3 * (y * width + x), to = 3 * (Math.floor(y / k) * bw + Math.floor(x / k));
      sums[to] += rgb[from];
      sums[to + 1] += rgb[from + 1];
      sums[to + 2] += rgb[from + 2];
    }
  }
  const blocks = new Uint8Array(sums.length);
  for (let i = 0; i < sums.length; i++) blocks[i] = roundLevel(sums[i] / (k * k), k === 2);
  return areaReduce(blocks, bh, bw, outHeight, outWidth);
}

/** The size at which the network sees a photo: short side WORKING_SIZE (Colorizer.working_lightness). */
function workingSize(height, width, size = WORKING_SIZE) {
  if (Math.min(height, width) <= size) return [height, width];
  const scale = size / Math.min(height, width);
  return [Math.max(1, roundHalfEven(height * scale)), Math.max(1, roundHalfEven(width * scale))];
}

/** Pixel (x, y) of a photo -> the nearest pixel [column, row] of its working-resolution plane (guided.to_working). */
function toWorking(x, y, prepared) {
  const { width, height, w, h } = prepared;
  return [Math.min(w - 1, Math.max(0, Math.floor(((x + 0.5) * w) / width))),
    Math.min(h - 1, Math.max(0, Math.floor(((y + 0.5) * h) / height)))];
}

/** A decoded photo -> what every guided run of it needs: the full-resolution L, the working-resolution L. */
export function preparePhoto(photo) {
  const { width, height, rgb } = photo;
  const fullL = new Float32Array(width * height);
  for (let i = 0; i < fullL.length; i++) fullL[i] = lightness(rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2]);
  const [h, w] = workingSize(height, width);
  const small = h === height && w === width ? rgb : scaleDown(rgb, height, width, h, w);
  const plane = new Float32Array(h * w);
  for (let i = 0; i < plane.length; i++) plane[i] = lightness(small[3 * i], small[3 * i + 1], small[3 * i + 2]);
  return { photo, width, height, fullL, h, w, plane };
}

/** A [planes, h, w] array, flipped left to right if asked, padded to at least [pw, ph]: by mirroring
 * (np.pad "symmetric") when mirrored is set, else with zeros. */
function pad(values, planes, h, w, ph, pw, { flip = false, mirrored = false } = {}) {
  const out = new Float32Array(planes * ph * pw);
  for (let p = 0; p < planes; p++) {
    for (let y = 0; y < ph; y++) {
      if (!mirrored && y >= h) break;
      const row = (p * h + (mirrored ? mirror(y, h) : y)) * w;
      for (let x = 0; x < pw; x++) {
        if (!mirrored && x >= w) break;
        const column = mirrored ? mirror(x, w) : x;
        out[(p * ph + y) * pw + x] = values[row + (flip ? w - 1 - column : column)];
      }
    }
  }
  return out;
}

/** The pins -> the network's hint input at the working resolution, [3, h, w]: a, b / ab_scale and the mask, each
 * pin pinSize pixels square (guided.hint_plane; a later pin over an earlier one wins). */
function hintPlane(pins, prepared, pinSize, abScale) {
  const { h, w } = prepared;
  const plane = new Float32Array(3 * h * w);
  const half = Math.floor(pinSize / 2);
  for (const pin of pins) {
    const [column, row] = toWorking(pin.x, pin.y, prepared);
    const [, a, b] = hexLab(pin.hex);
    for (let y = Math.max(0, row - half); y <= Math.min(h - 1, row + half); y++) {
      for (let x = Math.max(0, column - half); x <= Math.min(w - 1, column + half); x++) {
        plane[y * w + x] = Math.fround(a) / abScale; // float32 division, as hint_plane
        plane[(h + y) * w + x] = Math.fround(b) / abScale;
        plane[(2 * h + y) * w + x] = 1;
      }
    }
  }
  return plane;
}

/** "#rrggbb" -> CIELAB [L, a, b] (the colour contract). */
export function hexLab(hex) {
  const value = parseInt(hex.slice(1), 16);
  return rgbToLab((value >> 16) & 255, (value >> 8) & 255, value & 255);
}

/** Distinct likely colours of a distribution over the ab cells (guided.palette): the cells in order of the
 * probability near them (within about SUGGESTION_SMOOTHING units), each taken unless it is closer than spacing to
 * one taken already, at most count; each as { ab, probability: the share of the distribution nearer to it than to
 * any other taken }, most likely first, none below MIN_SUGGESTION_SHARE. */
export function palette(probabilities, cells, count = SUGGESTIONS, spacing = SUGGESTION_SPACING) {
  const Q = cells.length, distanceSq = new Float64Array(Q * Q), near = new Float64Array(Q);
  for (let q = 0; q < Q; q++) {
    for (let r = 0; r < Q; r++) {
      const da = cells[q][0] - cells[r][0], db = cells[q][1] - cells[r][1];
      distanceSq[q * Q + r] = da * da + db * db;
      near[q] += probabilities[r] * Math.exp(-distanceSq[q * Q + r] / (2 * SUGGESTION_SMOOTHING ** 2));
    }
  }
  const taken = [];
  for (const cell of [...near.keys()].sort((p, q) => near[q] - near[p])) { // stable: ties in cell order
    if (taken.every((other) => distanceSq[cell * Q + other] >= spacing ** 2)) {
      taken.push(cell);
      if (taken.length === count) break;
    }
  }
  const shares = new Float64Array(taken.length);
  let total = 0;
  for (let q = 0; q < Q; q++) {
    let nearest = 0;
    taken.forEach((cell, t) => { if (distanceSq[q * Q + cell] < distanceSq[q * Q + taken[nearest]]) nearest = t; });
    shares[nearest] += probabilities[q];
    total += probabilities[q];
  }
  return taken.map((cell, t) => ({ ab: [...cells[cell]], probability: shares[t] / Math.max(total, 1e-12) }))
    .filter(({ probability }) => probability >= MIN_SUGGESTION_SHARE)
    .sort((p, q) => q.probability - p.probability);
}

/** Shortest distances along one row, both ways (pins._row_scan, in its order of operations): values, the row's
 * distances, are replaced by the least of each value and any other plus the path cost between them; steps[x] is
 * the cost of entering column x from x - 1 (steps[0] unused); forward: scratch of the row's length. */
function rowScan(values, steps, forward) {
  const w = values.length;
  let ahead = 0, best = Infinity;
  for (let x = 0; x < w; x++) {
    if (x > 0) ahead += steps[x];
    best = Math.min(best, values[x] - ahead);
    forward[x] = ahead + best;
  }
  let back = 0;
  best = Infinity;
  for (let x = w - 1; x >= 0; x--) { // values[x] is read before it is replaced, and never again
    if (x < w - 1) back += steps[x + 1];
    best = Math.min(best, values[x] - back);
    values[x] = Math.min(forward[x], back + best);
  }
}

/** Each seed's ([row, column]) geodesic distances over the working-resolution plane (pins.geodesic_distances),
 * Float64Array(h * w) a seed: a step to a 4-neighbour costs STEP_COST + EDGE_COST_L x the lightness crossed +
 * EDGE_COST_AB x the automatic colour's a, b crossed; SCAN_ROUNDS rounds of raster scans down and up, each row
 * scanned both ways. lightness [h, w], automatic [2, h, w]. */
export function geodesicDistances(lightness, automatic, h, w, seeds) {
  const n = h * w;
  const stepCost = (i, j) => {
    const da = automatic[i] - automatic[j], db = automatic[n + i] - automatic[n + j];
    const jumpL = Math.abs(lightness[i] - lightness[j]);
    return STEP_COST + EDGE_COST_L * jumpL + EDGE_COST_AB * Math.sqrt(da * da + db * db);
  };
  const across = new Float64Array(n), down = new Float64Array(n); // into [y, x] from [y, x - 1], [y - 1, x]
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (x > 0) across[y * w + x] = stepCost(y * w + x, y * w + x - 1);
      if (y > 0) down[y * w + x] = stepCost(y * w + x, (y - 1) * w + x);
    }
  }
  const forward = new Float64Array(w);
  const scanRow = (distances, y, from) => {
    const row = distances.subarray(y * w, (y + 1) * w);
    if (from !== null) { // the step from the row above (or below) first
      const stepRow = y > from ? y : from;
      for (let x = 0; x < w; x++) {
        row[x] = Math.min(row[x], distances[from * w + x] + down[stepRow * w + x]);
      }
    }
    rowScan(row, across.subarray(y * w, (y + 1) * w), forward);
  };
  return seeds.map(([row, column]) => {
    const distances = new Float64Array(n).fill(Infinity);
    distances[row * w + column] = 0;
    for (let round = 0; round < SCAN_ROUNDS; round++) {
      scanRow(distances, 0, null);
      for (let y = 1; y < h; y++) scanRow(distances, y, y - 1);
      for (let y = h - 2; y >= 0; y--) scanRow(distances, y, y + 1);
    }
    return distances;
  });
}

/** How far each seed's pin reaches (pins.reaches), Float32Array(h * w) a seed, 1 at the pin: a Gaussian of its
 * geodesic distances of this width (pixels) times a Gaussian of the lightness's difference from the pin's own
 * of this tolerance (CIELAB L). */
function reaches(distances, lightness, w, seeds, width, tolerance) {
  return distances.map((distance, p) => {
    const [row, column] = seeds[p], seedLightness = lightness[row * w + column];
    return Float32Array.from(distance, (d, i) => {
      const far = d / width, apart = (lightness[i] - seedLightness) / tolerance;
      return Math.exp(-0.5 * (far * far + apart * apart));
    });
  });
}

/** The colour [2, h, w] with pins [{ row, column, a, b }] at the working resolution (pins.pinned_colour), from the
 * lightness [h, w], the automatic colour [2, h, w] (the network's without pins) and the network's answer with the
 * pins [2, h, w]:
 *
 *     ab = automatic + reach x carried + networkReach x (1 - reach) x (answer - automatic)
 *
 * reach: the largest of the pins' reaches (a Gaussian of the geodesic distance, width REACH x the short side, and
 * of the lightness's difference, LIGHTNESS_TOLERANCE), so that a pin colours the surface it sits on, bounded by
 * the photo's edges; carried: the pins' residuals (a pin's a, b minus the automatic colour at it) blended with
 * weights (reach / the largest reach)^BLEND_SHARPNESS, so that at a pin its own colour is what you get;
 * networkReach: the same reach with a width of NETWORK_REACH x the number of pins (at most NETWORK_REACH_CAP) and
 * NETWORK_TOLERANCE, how far the network's own reading of the pins is trusted. No pins: automatic itself. */
export function pinnedColour(lightness, automatic, answer, h, w, pins) {
  return pins.length === 0 ? automatic : combinePins(automatic, answer, pinReaches(lightness, automatic, h, w, pins));
}

/** pinnedColour's terms that do not need the network's answer, so that the page computes them while the network
 * runs: per working pixel reach, carried ([2, h, w]) and networkReach. */
export function pinReaches(lightness, automatic, h, w, pins) {
  const n = h * w, seeds = pins.map(({ row, column }) => [row, column]);
  const distances = geodesicDistances(lightness, automatic, h, w, seeds);
  const shortSide = Math.min(h, w);
  const each = reaches(distances, lightness, w, seeds, REACH * shortSide, LIGHTNESS_TOLERANCE);
  const networkWidth = Math.min(NETWORK_REACH_CAP, NETWORK_REACH * pins.length) * shortSide;
  const network = reaches(distances, lightness, w, seeds, networkWidth, NETWORK_TOLERANCE);
  const residuals = pins.map(({ row, column, a, b }) => [Math.fround(Math.fround(a) - automatic[row * w + column]),
    Math.fround(Math.fround(b) - automatic[n + row * w + column])]);
  const reach = new Float32Array(n), carried = new Float32Array(2 * n), networkReach = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    for (let p = 0; p < pins.length; p++) {
      reach[i] = Math.max(reach[i], each[p][i]);
      networkReach[i] = Math.max(networkReach[i], network[p][i]);
    }
    let total = 0, carriedA = 0, carriedB = 0;
    for (let p = 0; p < pins.length; p++) {
      const weight = Math.fround(each[p][i] / Math.max(reach[i], 1e-12)) ** BLEND_SHARPNESS; // the nearest pin's: 1
      total += weight;
      carriedA += weight * residuals[p][0];
      carriedB += weight * residuals[p][1];
    }
    carried[i] = carriedA / Math.max(total, 1e-12);
    carried[n + i] = carriedB / Math.max(total, 1e-12);
  }
  return { reach, carried, networkReach };
}

/** pinnedColour from pinReaches' terms and the network's answer. */
function combinePins(automatic, answer, { reach, carried, networkReach }) {
  const n = reach.length, ab = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    const trusted = networkReach[i] * (1 - reach[i]);
    ab[i] = automatic[i] + reach[i] * carried[i] + trusted * (answer[i] - automatic[i]);
    ab[n + i] = automatic[n + i] + reach[i] * carried[n + i] + trusted * (answer[n + i] - automatic[n + i]);
  }
  return ab;
}

/** CIELAB L -> its band, 0 to REFERENCE_LIGHTNESS_BINS - 1 (guided.lightness_bands, its float32 product). */
const lightnessBand = (l) => Math.min(REFERENCE_LIGHTNESS_BINS - 1,
  Math.max(0, Math.floor(Math.fround(Math.fround(l) * Math.fround(REFERENCE_LIGHTNESS_BINS / 100)))));

/** The mean a, b in each band of lightness (guided.band_means), [band * 2 + channel]: each band's mean pulled
 * towards the overall mean by how few pixels it has (a band with 1 % of the pixels is half its own, half the
 * overall). lightness [n], ab [2, n]. */
export function bandMeans(lightness, ab) {
  const n = lightness.length, counts = new Float64Array(REFERENCE_LIGHTNESS_BINS);
  const sums = new Float64Array(2 * REFERENCE_LIGHTNESS_BINS), mean = [0, 0];
  for (let i = 0; i < n; i++) {
    const band = lightnessBand(lightness[i]);
    counts[band] += 1;
    for (let c = 0; c < 2; c++) {
      sums[2 * band + c] += ab[c * n + i];
      mean[c] += ab[c * n + i];
    }
  }
  const means = new Float32Array(2 * REFERENCE_LIGHTNESS_BINS);
  for (let band = 0; band < REFERENCE_LIGHTNESS_BINS; band++) {
    const share = counts[band] / (counts[band] + 0.01 * n);
    for (let c = 0; c < 2; c++) {
      means[2 * band + c] = share * (sums[2 * band + c] / Math.max(counts[band], 1)) + (1 - share) * (mean[c] / n);
    }
  }
  return means;
}

/** The reference's colours carried over (guided.transfer_reference), a new ab [2, h * w]: in each band of
 * lightness the photo's mean colour moves REFERENCE_TRANSFER x strength of the way to the reference's mean colour
 * in that band (referenceMeans: bandMeans of the reference); each pixel by the shifts of the bands around it,
 * interpolated linearly between the bands' centres in L (no step at a band's edge). */
export function transferReference(ab, lightness, referenceMeans, strength) {
  const n = lightness.length, own = bandMeans(lightness, ab), moved = new Float32Array(2 * n);
  const share = Math.fround(REFERENCE_TRANSFER * strength); // float32 arithmetic, as numpy does it there
  const shift = own.map((mean, k) => Math.fround(share * Math.fround(referenceMeans[k] - mean)));
  const scale = Math.fround(REFERENCE_LIGHTNESS_BINS / 100);
  for (let i = 0; i < n; i++) {
    const position = Math.min(REFERENCE_LIGHTNESS_BINS - 1,
      Math.max(0, Math.fround(Math.fround(Math.fround(lightness[i]) * scale) - 0.5)));
    const below = Math.min(Math.floor(position), REFERENCE_LIGHTNESS_BINS - 2);
    const up = Math.fround(position - below), down = Math.fround(1 - up);
    moved[i] = ab[i] + down * shift[2 * below] + up * shift[2 * below + 2];
    moved[n + i] = ab[n + i] + down * shift[2 * below + 1] + up * shift[2 * below + 3];
  }
  return moved;
}

/** A colour photo (RGB levels) -> its colours as the guided network takes them (guided.reference_distribution):
 * distribution, its global hint (its ab at a short side of at most 256 spread on the cells by a Gaussian: a
 * smoothed histogram of 4,096 pixels evenly spaced, summing to 1), and bandMeans, its mean colour by band of
 * lightness. Throws for a photo without colour. */
export function readReference(rgb, height, width, cells, sigma) {
  let pixels = rgb, h = height, w = width;
  if (Math.min(h, w) > REFERENCE_SHORT_SIDE) {
    const scale = REFERENCE_SHORT_SIDE / Math.min(h, w);
    [h, w] = [Math.max(1, roundHalfEven(height * scale)), Math.max(1, roundHalfEven(width * scale))];
    pixels = areaReduce(rgb, height, width, h, w);
  }
  const n = h * w, lightnesses = new Float32Array(n), ab = new Float32Array(2 * n); // float32, as bgr_to_lab
  let chroma = 0;
  for (let i = 0; i < n; i++) {
    [lightnesses[i], ab[i], ab[n + i]] = rgbToLab(pixels[3 * i], pixels[3 * i + 1], pixels[3 * i + 2]);
    chroma += Math.hypot(ab[i], ab[n + i]);
  }
  if (chroma / n < MIN_REFERENCE_CHROMA) throw new Error("the reference photo has no colour (it is gray)");
  const counted = Math.min(n, REFERENCE_PIXELS);
  const histogram = new Float64Array(cells.length), distance = new Float64Array(cells.length);
  for (let k = 0; k < counted; k++) {
    const i = n > REFERENCE_PIXELS ? Math.trunc((k * (n - 1)) / (REFERENCE_PIXELS - 1)) : k;
    let nearest = Infinity;
    cells.forEach(([a, b], q) => {
      distance[q] = (ab[i] - a) ** 2 + (ab[n + i] - b) ** 2;
      nearest = Math.min(nearest, distance[q]);
    });
    let total = 0;
    for (let q = 0; q < cells.length; q++) {
      distance[q] = Math.exp(-(distance[q] - nearest) / (2 * sigma ** 2)); // now the pixel's weight on cell q
      total += distance[q];
    }
    for (let q = 0; q < cells.length; q++) histogram[q] += distance[q] / total;
  }
  const sum = histogram.reduce((s, v) => s + v, 0);
  return { distribution: Float32Array.from(histogram, (v) => v / sum), bandMeans: bandMeans(lightnesses, ab) };
}

/** The guided file loaded: its session, colour contract and hint contract. run() calls are queued (one at a
 * time: the suggestions and the colouring share the session). */
export class GuidedModel {
  static async load(ort, url) {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status} ${response.statusText}`);
    const bytes = new Uint8Array(await response.arrayBuffer());
    const metadata = readMetadata(bytes);
    if (!metadata.hints || !metadata.colour_contract) {
      throw new Error(`${url} has no hint contract (not a guided file)`);
    }
    const session = await ort.InferenceSession.create(bytes, { executionProviders: ["wasm"] });
    return new GuidedModel(ort, session, metadata);
  }

  constructor(ort, session, metadata) {
    this.ort = ort;
    this.session = session;
    this.contract = metadata.colour_contract;
    this.cells = metadata.hints.ab_cells;
    this.pinSize = metadata.hints.pin_size;
    this.sigma = metadata.hints.reference_sigma;
    this.window = this.contract.window;
    this.queue = Promise.resolve();
  }

  /** windows: [{ L: [win * win] normalised, hints: [3 * win * win] }] -> [{ ab: [2 * win * win] normalised,
   * distribution: [Q * g * g] }]: in batches of WINDOWS_PER_RUN windows. */
  run(windows, globalHint) {
    const result = this.queue.then(() => this.runNow(windows, globalHint));
    this.queue = result.catch(() => {});
    return result;
  }

  async runNow(windows, globalHint) {
    const { ort } = this, win = this.window, area = win * win, Q = this.cells.length;
    const outputs = [];
    for (let first = 0; first < windows.length; first += WINDOWS_PER_RUN) {
      const batch = windows.slice(first, first + WINDOWS_PER_RUN), n = batch.length;
      const L = new Float32Array(n * area), hints = new Float32Array(n * 3 * area), global = new Float32Array(n * Q);
      batch.forEach((window, i) => {
        L.set(window.L, i * area);
        hints.set(window.hints, i * 3 * area);
        if (globalHint) global.set(globalHint, i * Q);
      });
      const result = await this.session.run({
        L: new ort.Tensor("float32", L, [n, 1, win, win]),
        hints: new ort.Tensor("float32", hints, [n, 3, win, win]),
        global_hint: new ort.Tensor("float32", global, [n, Q]),
      });
      const ab = result.ab.data, distribution = result.distribution.data, cellsPerWindow = distribution.length / n;
      for (let i = 0; i < n; i++) {
        outputs.push({ ab: ab.subarray(i * 2 * area, (i + 1) * 2 * area),
          distribution: distribution.subarray(i * cellsPerWindow, (i + 1) * cellsPerWindow) });
      }
    }
    return outputs;
  }

  /** ab (CIELAB units, [2, h, w], saturation 1) of a prepared photo with pins and a global hint (or null), as
   * Colorizer.colour_of_lightness with hints; and the distributions of the photo's own (unmirrored) windows, by
   * "top,left", for suggestions. */
  async colour(prepared, pins, globalHint) {
    const { h, w, plane } = prepared, win = this.window, stride = win / 2;
    const ph = Math.max(h, win), pw = Math.max(w, win);
    const normalised = plane.map((l) => (l - this.contract.L_center) / this.contract.L_scale);
    const hints = hintPlane(pins, prepared, this.pinSize, this.contract.ab_scale);
    const rows = windowStarts(ph, win, stride), columns = windowStarts(pw, win, stride);
    const views = [false, true].map((flip) => ({
      L: pad(normalised, 1, h, w, ph, pw, { flip, mirrored: true }),
      hints: pad(hints, 3, h, w, ph, pw, { flip }),
    }));
    const windows = [];
    for (const view of views) {
      for (const top of rows) {
        for (const left of columns) windows.push({ top, left, ...cut(view, top, left, ph, pw, win) });
      }
    }
    const results = await this.run(windows, globalHint);
    const sums = [new Float32Array(2 * ph * pw), new Float32Array(2 * ph * pw)], count = new Float32Array(ph * pw);
    const distributions = new Map();
    results.forEach(({ ab, distribution }, i) => {
      const view = i < rows.length * columns.length ? 0 : 1, { top, left } = windows[i];
      if (view === 0) distributions.set(`${top},${left}`, distribution);
      for (let y = 0; y < win; y++) {
        for (let x = 0; x < win; x++) {
          const p = (top + y) * pw + left + x;
          sums[view][p] += ab[y * win + x];
          sums[view][ph * pw + p] += ab[(win + y) * win + x];
          if (view === 0) count[p] += 1;
        }
      }
    });
    const ab = new Float32Array(2 * h * w), scale = this.contract.ab_scale / 2;
    for (let c = 0; c < 2; c++) {
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const p = y * pw + x, q = y * pw + w - 1 - x; // the mirror view flipped back
          ab[(c * h + y) * w + x] = (sums[0][c * ph * pw + p] / count[p] + sums[1][c * ph * pw + q] / count[q]) * scale;
        }
      }
    }
    return { ab, distributions };
  }

  /** The photo's colour with pins and a reference (guided.guided_colour): { ab: [2, h, w] at the working
   * resolution, distributions: those of the network's run with the pins, for suggest }. The network's colour
   * without pins and with them (given the reference's global hint), each with the reference's colours carried over
   * at strength (transferReference), combined by pinnedColour: without pins, the network's colour exactly.
   * reference: { distribution, bandMeans } or null; strength 0 leaves it out. runs: the network's runs of this
   * photo with this reference (a Map the caller keeps and clears, keyed by the pins and whether the reference is
   * used; colour()'s promises), so that the run without pins is made once. */
  async guidedColour(prepared, pins, reference, strength = 1, runs = new Map()) {
    const used = strength > 0 ? reference : null;
    const run = (withPins) => {
      const key = JSON.stringify([withPins.map(({ x, y, hex }) => [x, y, hex]), used !== null]);
      if (!runs.has(key)) {
        const result = this.colour(prepared, withPins, used?.distribution ?? null);
        runs.set(key, result);
        result.catch(() => runs.delete(key));
      }
      return runs.get(key);
    };
    const withReference = (ab) => (used ? transferReference(ab, prepared.plane, used.bandMeans, strength) : ab);
    const automatic = await run([]);
    const automaticAb = withReference(automatic.ab);
    if (pins.length === 0) return { ab: automaticAb, distributions: automatic.distributions };
    const answer = run(pins);
    const placed = pins.map(({ x, y, hex }) => {
      const [column, row] = toWorking(x, y, prepared), [, a, b] = hexLab(hex);
      return { row, column, a, b };
    });
    const reached = pinReaches(prepared.plane, automaticAb, prepared.h, prepared.w, placed); // while the network runs
    const { ab, distributions } = await answer;
    return { ab: combinePins(automaticAb, withReference(ab), reached), distributions };
  }

  /** The colours most likely at photo pixel (x, y) given pins and a global hint (guided.suggest): the palette of
   * the distribution there, in the window centred on the point, each as "#rrggbb" with the photo's lightness
   * there. distributions: a colour() result's for the same pins and global hint (used if it has that window). */
  async suggest(prepared, x, y, pins, globalHint, distributions = null) {
    const { h, w, plane } = prepared, win = this.window;
    const ph = Math.max(h, win), pw = Math.max(w, win);
    const [column, row] = toWorking(x, y, prepared);
    const top = Math.min(Math.max(row - win / 2, 0), ph - win); // the window centred on the point
    const left = Math.min(Math.max(column - win / 2, 0), pw - win);
    let distribution = distributions?.get(`${top},${left}`);
    if (!distribution) {
      const normalised = plane.map((l) => (l - this.contract.L_center) / this.contract.L_scale);
      const view = { L: pad(normalised, 1, h, w, ph, pw, { mirrored: true }),
        hints: pad(hintPlane(pins, prepared, this.pinSize, this.contract.ab_scale), 3, h, w, ph, pw) };
      [{ distribution }] = await this.run([cut(view, top, left, ph, pw, win)], globalHint);
    }
    const grid = Math.round(Math.sqrt(distribution.length / this.cells.length)), cell = win / grid;
    const at = Math.floor((row - top) / cell) * grid + Math.floor((column - left) / cell);
    const probabilities = this.cells.map((_, q) => distribution[q * grid * grid + at]);
    const l = plane[row * w + column];
    return palette(probabilities, this.cells).map(({ ab, probability }) => (
      { hex: labHex(l, ab[0], ab[1]), ab, probability }));
  }
}

/** The window at (top, left) of a padded view {L: [ph, pw], hints: [3, ph, pw]}. */
function cut(view, top, left, ph, pw, win) {
  const L = new Float32Array(win * win), hints = new Float32Array(3 * win * win);
  for (let y = 0; y < win; y++) {
    const from = (top + y) * pw + left;
    L.set(view.L.subarray(from, from + win), y * win);
    for (let c = 0; c < 3; c++) {
      hints.set(view.hints.subarray(c * ph * pw + from, c * ph * pw + from + win), (c * win + y) * win);
    }
  }
  return { L, hints };
}

/** ab at the working resolution ([2, h, w], CIELAB units) -> the photo's RGBA: a, b times saturation, scaled up
 * bilinearly (pixel centres aligned, edges repeated: OpenCV INTER_LINEAR), with the full-resolution L. */
export function render(prepared, ab, saturation, alpha = null) {
  const { width, height, fullL, h, w } = prepared;
  const image = new ImageData(width, height);
  const out = image.data;
  const taps = (size, small) => {
    const first = new Int32Array(size), second = new Int32Array(size), fraction = new Float32Array(size);
    for (let i = 0; i < size; i++) {
      const u = Math.min(Math.max(((i + 0.5) * small) / size - 0.5, 0), small - 1);
      first[i] = Math.floor(u);
      second[i] = Math.min(first[i] + 1, small - 1);
      fraction[i] = u - first[i];
    }
    return { first, second, fraction };
  };
  const xs = taps(width, w), ys = taps(height, h);
  const rowA = new Float32Array(w), rowB = new Float32Array(w);
  for (let y = 0; y < height; y++) {
    const top = ys.first[y] * w, bottom = ys.second[y] * w, fy = ys.fraction[y];
    for (let x = 0; x < w; x++) { // the row interpolated between the two working rows, times saturation
      rowA[x] = (ab[top + x] + (ab[bottom + x] - ab[top + x]) * fy) * saturation;
      rowB[x] = (ab[h * w + top + x] + (ab[h * w + bottom + x] - ab[h * w + top + x]) * fy) * saturation;
    }
    for (let x = 0, i = y * width; x < width; x++, i++) {
      const x0 = xs.first[x], x1 = xs.second[x], fx = xs.fraction[x];
      labToRgb(fullL[i], rowA[x0] + (rowA[x1] - rowA[x0]) * fx, rowB[x0] + (rowB[x1] - rowB[x0]) * fx, out, 4 * i);
      out[4 * i + 3] = alpha === null ? 255 : alpha[i];
    }
  }
  return image;
}


const DRAG_PIXELS = 4; // a pointer that moves less than this (CSS px) between down and up clicks
const PLANE_RANGE = 110; // the picker's a, b plane spans -110 to 110 in each (the ab cells: a -80 to 90, b -110 to 90)
const PLANE_STEP = 2; // CIELAB units a pixel of the plane's canvas

/** The colours the lightness l allows, on an a (across) by b (up) plane: canvas drawn with each in-gamut a, b at
 * l, the rest hatched; the suggestions ringed. */
function drawPlane(canvas, l, suggestions) {
  const size = canvas.width, image = new ImageData(size, size);
  for (let py = 0, i = 0; py < size; py++) {
    for (let px = 0; px < size; px++, i += 4) {
      const a = -PLANE_RANGE + px * PLANE_STEP, b = PLANE_RANGE - py * PLANE_STEP;
      if (inGamut(l, a, b)) labToRgb(l, a, b, image.data, i);
      else image.data.fill((px + py) % 8 < 4 ? 255 : 225, i, i + 3); // hatched: no such colour at this lightness
      image.data[i + 3] = 255;
    }
  }
  const context = canvas.getContext("2d");
  context.putImageData(image, 0, 0);
  for (const { ab: [a, b] } of suggestions) {
    context.beginPath();
    context.arc((a + PLANE_RANGE) / PLANE_STEP, (PLANE_RANGE - b) / PLANE_STEP, 3, 0, 2 * Math.PI);
    context.strokeStyle = "#000";
    context.stroke();
  }
}

/** The page's guided colour: pins on the coloured photo, the palette of suggestions, the reference photo and its
 * strength. The photo's automatic view (the default model's colours, colorize.js) is what they steer from: with
 * no pins and no reference (or strength 0) the page shows that view itself.
 *
 * host: { ort, url (the guided file), canvas (the coloured photo), show(state, message, error) (the page's
 * status), decode(file) (-> { width, height, rgb, alpha }), rerun() (colours the photo again: the page calls
 * colour() back while steering is true), automaticView() (the automatic view of the photo at the page's
 * saturation, null until it is there) }. */
export class Guide {
  constructor(host) {
    this.host = host;
    this.photo = null;
    this.prepared = null; // preparePhoto(photo)
    this.pins = []; // { x, y, hex }: photo pixels, origin top-left, as `colorize-run --hint X,Y,#rrggbb`
    this.reference = null; // { name, distribution, bandMeans }: kept from photo to photo
    this.strength = 1; // the reference's strength, as `colorize-run --reference-strength`
    this.runs = new Map(); // the network's runs of this photo with this reference (GuidedModel.guidedColour)
    this.version = 0; // bumps at every change of the pins, the reference or its strength
    this.result = null; // { photo, version, prepared, pins, ab, distributions } of the last guided colouring
    this.model = null;
    this.changedAt = null;
    this.buildStage();
    this.wirePanel();
  }

  /** True when the photo is to be coloured by the guided path: pins, or a reference at a strength above 0. */
  get steering() {
    return this.photo !== null && (this.pins.length > 0 || (this.reference !== null && this.strength > 0));
  }

  /** A new photo: its pins are cleared (the reference is kept) and the guided file starts loading. */
  setPhoto(photo) {
    this.photo = photo;
    this.pins = [];
    this.runs = new Map();
    this.result = null;
    this.closePalette();
    this.version++;
    this.updatePanel();
    this.loadModel().catch(() => {}); // reported when it is needed
  }

  /** The photo prepared for the network (preparePhoto), once per photo. */
  preparedPhoto() {
    if (this.prepared?.photo !== this.photo) this.prepared = preparePhoto(this.photo);
    return this.prepared;
  }

  loadModel() {
    this.model ??= GuidedModel.load(this.host.ort, this.host.url).catch((error) => {
      this.model = null;
      throw new Error(`could not load the guided model ${this.host.url}: ${error.message ?? error}`);
    });
    return this.model;
  }

  /** The guided colour of the photo with the pins given (the reference and strength as set). */
  async guidedColour(pins) {
    const model = await this.loadModel();
    const colour = await model.guidedColour(this.preparedPhoto(), pins, this.reference, this.strength, this.runs);
    while (this.runs.size > RUNS_KEPT) this.runs.delete([...this.runs.keys()][1]); // the first: without pins
    return colour;
  }

  /** Runs the network without pins in the background, once the automatic view is shown: the first click's
   * suggestions and the first pin then need no run of it. */
  prefetch() {
    if (this.photo !== null) this.guidedColour([]).catch(() => {}); // reported when it is needed
  }

  /** Colours the photo with its pins and reference at saturation and paints it (called by the page). */
  async colour(saturation) {
    const { photo, version, host: { canvas } } = this;
    const start = performance.now();
    let steered = 0;
    if (this.result?.photo !== photo || this.result.version !== version) {
      this.host.show("running", `Colouring ${photo.width} × ${photo.height} with ${this.describe()}…`);
      const pins = this.pins.map((pin) => ({ ...pin }));
      const steerStart = performance.now();
      const { ab, distributions } = await this.guidedColour(pins);
      steered = (performance.now() - steerStart) / 1000;
      this.result = { photo, version, prepared: this.preparedPhoto(), pins, ab, distributions };
    }
    const image = render(this.result.prepared, this.result.ab, saturation, photo.alpha);
    canvas.width = image.width;
    canvas.height = image.height;
    canvas.getContext("2d").putImageData(image, 0, 0);
    const seconds = (performance.now() - start) / 1000;
    document.body.dataset.seconds = seconds.toFixed(3);
    this.shown(version);
    this.host.show("done", `Coloured ${photo.width} × ${photo.height} with ${this.describe()} in ` +
      `${seconds.toFixed(2)} s${steered ? ` (network and pins ${steered.toFixed(2)} s)` : ""}, saturation ` +
      `${saturation.toFixed(2)}.`);
  }

  /** Notes that the photo shown is the one for version of the pins and reference (the page calls it for its
   * automatic view): body data-pins, data-reference, data-coloured-version and, once the latest change is shown,
   * data-pin-seconds (from the change to the photo shown), for the tests and the timings. */
  shown(version) {
    const body = document.body.dataset;
    body.pins = JSON.stringify(this.pins);
    body.reference = this.reference?.name ?? "";
    body.colouredVersion = version;
    if (this.changedAt !== null && version === this.version) {
      body.pinSeconds = ((performance.now() - this.changedAt) / 1000).toFixed(3);
      this.changedAt = null;
    }
    this.updatePanel();
  }

  describe() {
    const pins = `${this.pins.length} pin${this.pins.length === 1 ? "" : "s"}`;
    return this.reference && this.strength > 0
      ? `${pins} and the colours of ${this.reference.name} (strength ${this.strength.toFixed(2)})` : pins;
  }

  /** Pins or the reference changed: colour again. */
  changed() {
    this.version++;
    document.body.dataset.guideVersion = this.version;
    this.changedAt = performance.now();
    this.drawPins();
    this.updatePanel();
    this.host.rerun();
  }

  // ---- the stage: the coloured photo with its pins and the palette ----

  buildStage() {
    const { canvas } = this.host;
    this.stage = document.createElement("div");
    this.stage.className = "guide-stage";
    canvas.before(this.stage);
    this.overlay = document.createElement("div");
    this.overlay.className = "guide-overlay";
    this.overlay.title = "Click to pin a colour";
    this.stage.append(canvas, this.overlay);
    this.palette = document.createElement("div");
    this.palette.className = "guide-palette";
    this.palette.hidden = true;
    this.palette.innerHTML = `
      <div class="guide-palette-title">Suggested colours <button class="guide-close" title="Close">×</button></div>
      <div class="guide-suggestions"></div>
      <div>Colours at this lightness</div>
      <canvas class="guide-plane" width="${2 * PLANE_RANGE / PLANE_STEP + 1}"
        height="${2 * PLANE_RANGE / PLANE_STEP + 1}"
        title="Click a colour: a (green to red) across, b (blue to yellow) up; hatched: no such colour here"></canvas>
      <label>Any colour <input class="guide-picker" type="color" value="#808080"></label>
      <button class="guide-remove">Remove pin</button>`;
    this.stage.append(this.palette);
    this.overlay.addEventListener("pointerdown", (event) => this.pointerDown(event));
    this.palette.querySelector(".guide-close").addEventListener("click", () => this.closePalette());
    this.palette.querySelector(".guide-picker").addEventListener("change", (event) => this.pick(event.target.value));
    this.palette.querySelector(".guide-plane").addEventListener("click", (event) => this.pickOnPlane(event));
    this.palette.querySelector(".guide-remove").addEventListener("click", () => this.removePin(this.editing.pin));
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape") this.closePalette();
      if ((event.key === "Delete" || event.key === "Backspace") && this.editing?.pin &&
          event.target.tagName !== "INPUT") this.removePin(this.editing.pin);
    });
  }

  /** Photo pixel (x, y) of a pointer event, inside the photo. */
  photoPixel(event) {
    const box = this.overlay.getBoundingClientRect(), { width, height } = this.photo;
    return [Math.min(width - 1, Math.max(0, Math.floor(((event.clientX - box.left) * width) / box.width))),
      Math.min(height - 1, Math.max(0, Math.floor(((event.clientY - box.top) * height) / box.height)))];
  }

  pointerDown(event) {
    if (this.photo === null || event.button !== 0) return;
    event.preventDefault();
    const marker = event.target.closest(".guide-pin");
    if (!marker) {
      this.openPalette(null, ...this.photoPixel(event));
      return;
    }
    const pin = this.pins[Number(marker.dataset.index)];
    const startX = event.clientX, startY = event.clientY;
    let dragging = false;
    marker.setPointerCapture(event.pointerId);
    const move = (moved) => {
      dragging ||= Math.hypot(moved.clientX - startX, moved.clientY - startY) >= DRAG_PIXELS;
      if (!dragging) return;
      const [x, y] = this.photoPixel(moved);
      this.placeMarker(marker, x, y);
    };
    const up = (released) => {
      marker.removeEventListener("pointermove", move);
      marker.removeEventListener("pointerup", up);
      if (!dragging) {
        this.openPalette(pin, pin.x, pin.y);
        return;
      }
      [pin.x, pin.y] = this.photoPixel(released);
      this.closePalette();
      this.changed();
    };
    marker.addEventListener("pointermove", move);
    marker.addEventListener("pointerup", up);
  }

  placeMarker(marker, x, y) {
    marker.style.left = `${((x + 0.5) * 100) / this.photo.width}%`;
    marker.style.top = `${((y + 0.5) * 100) / this.photo.height}%`;
  }

  drawPins() {
    this.overlay.querySelectorAll(".guide-pin").forEach((marker) => marker.remove());
    const shown = [...this.pins];
    if (this.editing && this.editing.pin === null) shown.push({ ...this.editing, hex: null }); // where it will go
    shown.forEach((pin, index) => {
      const marker = document.createElement("div");
      marker.className = pin.hex ? "guide-pin" : "guide-pin guide-pending";
      marker.dataset.index = index;
      marker.style.background = pin.hex ?? "transparent";
      marker.title = pin.hex ? `${pin.hex} at ${pin.x}, ${pin.y}: drag to move, click to change or remove` : "";
      this.placeMarker(marker, pin.x, pin.y);
      this.overlay.append(marker);
    });
  }

  /** The palette at (x, y): the suggested colours there (given the other pins and the reference), the colours
   * the photo's lightness allows there, a picker for any colour. */
  async openPalette(pin, x, y) {
    const editing = { pin, x, y };
    this.editing = editing;
    this.drawPins();
    const { palette } = this;
    palette.hidden = false;
    palette.dataset.state = "loading";
    palette.style.left = `${((x + 0.5) * 100) / this.photo.width}%`;
    palette.style.top = `${((y + 0.5) * 100) / this.photo.height}%`;
    palette.classList.toggle("guide-left", x > this.photo.width / 2);
    palette.classList.toggle("guide-up", y > this.photo.height / 2);
    palette.querySelector(".guide-remove").hidden = pin === null;
    const picker = palette.querySelector(".guide-picker");
    const list = palette.querySelector(".guide-suggestions");
    list.textContent = "…";
    try {
      const model = await this.loadModel();
      const prepared = this.preparedPhoto();
      const others = this.pins.filter((other) => other !== pin).map((other) => ({ ...other }));
      const { distributions } = await this.guidedColour(others); // a run the page has made already, mostly
      const globalHint = this.strength > 0 ? this.reference?.distribution ?? null : null;
      const suggestions = await model.suggest(prepared, x, y, others, globalHint, distributions);
      if (this.editing !== editing) return;
      const [column, row] = toWorking(x, y, prepared);
      editing.lightness = prepared.plane[row * prepared.w + column]; // the suggestions' L, as guided.suggest's
      drawPlane(palette.querySelector(".guide-plane"), editing.lightness, suggestions);
      picker.value = pin?.hex ?? suggestions[0]?.hex ?? "#808080";
      list.replaceChildren(...suggestions.map(({ hex, ab, probability }) => {
        const swatch = document.createElement("button");
        swatch.className = "guide-swatch";
        swatch.style.background = hex;
        swatch.dataset.hex = hex;
        swatch.dataset.ab = ab.join(",");
        swatch.dataset.probability = probability.toFixed(4);
        swatch.title = `${hex}: ${Math.round(probability * 100)} %`;
        const share = document.createElement("span");
        share.textContent = `${Math.round(probability * 100)}%`;
        swatch.append(share);
        swatch.addEventListener("click", () => this.pick(hex));
        return swatch;
      }));
      palette.dataset.state = "ready";
    } catch (error) {
      if (this.editing !== editing) return;
      list.textContent = `No suggestions: ${error.message ?? error}`;
      palette.dataset.state = "error";
    }
  }

  closePalette() {
    this.editing = null;
    this.palette.hidden = true;
    if (this.photo !== null) this.drawPins();
  }

  /** The colour chosen for the pin being placed or edited. */
  pick(hex) {
    const { editing } = this;
    if (!editing || !/^#[0-9a-f]{6}$/i.test(hex)) return;
    if (editing.pin) editing.pin.hex = hex.toLowerCase();
    else this.pins.push({ x: editing.x, y: editing.y, hex: hex.toLowerCase() });
    this.closePalette();
    this.changed();
  }

  /** A click on the plane of the colours at the point's lightness: that colour, if there is one. */
  pickOnPlane(event) {
    const { editing } = this, canvas = event.currentTarget, box = canvas.getBoundingClientRect();
    if (editing?.lightness === undefined) return;
    const a = -PLANE_RANGE + Math.round(((event.clientX - box.left) * canvas.width) / box.width - 0.5) * PLANE_STEP;
    const b = PLANE_RANGE - Math.round(((event.clientY - box.top) * canvas.height) / box.height - 0.5) * PLANE_STEP;
    if (inGamut(editing.lightness, a, b)) this.pick(labHex(editing.lightness, a, b));
  }

  removePin(pin) {
    this.pins = this.pins.filter((other) => other !== pin);
    this.closePalette();
    this.changed();
  }

  // ---- the panel: reference photo and its strength, clear, compare ----

  wirePanel() {
    const $ = (id) => document.getElementById(id);
    $("reference").addEventListener("change", (event) => this.setReference(event.target.files[0]));
    const drop = $("reference-drop");
    drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (event) => {
      event.preventDefault();
      drop.classList.remove("over");
      this.setReference(event.dataTransfer.files[0]);
    });
    $("reference-clear").addEventListener("click", () => {
      this.reference = null;
      this.runs = new Map();
      $("reference").value = "";
      this.changed();
    });
    const strength = $("reference-strength");
    strength.max = MAX_REFERENCE_STRENGTH;
    strength.addEventListener("input", () => {
      this.strength = Number(strength.value);
      $("reference-strength-value").textContent = this.strength.toFixed(2);
      this.changed(); // no network run: the run with the reference is kept (and strength 0 is the automatic view)
    });
    $("pins-clear").addEventListener("click", () => {
      this.pins = [];
      this.closePalette();
      this.changed();
    });
    const compare = $("compare");
    const showAutomatic = (on) => {
      const automatic = this.steering ? this.host.automaticView() : null;
      if (automatic === null) return;
      const context = this.host.canvas.getContext("2d");
      if (on) {
        this.steeredImage = context.getImageData(0, 0, this.photo.width, this.photo.height);
        context.putImageData(automatic, 0, 0);
      } else if (this.steeredImage) {
        context.putImageData(this.steeredImage, 0, 0);
        this.steeredImage = null;
      }
      compare.classList.toggle("active", on);
    };
    compare.addEventListener("pointerdown", () => showAutomatic(true));
    for (const end of ["pointerup", "pointerleave", "blur"]) compare.addEventListener(end, () => showAutomatic(false));
  }

  async setReference(file) {
    if (!file) return;
    const status = document.getElementById("guide-status");
    status.textContent = `Reading ${file.name}…`;
    status.classList.remove("error");
    try {
      const [model, decoded] = await Promise.all([this.loadModel(), this.host.decode(file)]);
      const colours = readReference(decoded.rgb, decoded.height, decoded.width, model.cells, model.sigma);
      this.reference = { name: file.name, ...colours };
      this.runs = new Map();
      status.textContent = "";
      this.changed();
    } catch (error) {
      status.textContent = `${file.name}: ${error.message ?? error}`;
      status.classList.add("error");
    }
  }

  updatePanel() {
    const $ = (id) => document.getElementById(id);
    $("reference-clear").disabled = this.reference === null;
    $("reference-name").textContent = this.reference ? this.reference.name : "none";
    $("pins-clear").disabled = this.pins.length === 0;
    $("compare").disabled = !this.steering;
  }
}

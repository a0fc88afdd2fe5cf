// drive.mjs's steering actions: what a person does with the page's guided colour (guided.js), in the order given.
//
//   --pin X,Y,COLOUR   click photo pixel (X, Y) of the coloured photo, wait for the suggested colours there, then
//                      COLOUR: "suggestion" or "suggestionN" clicks the Nth suggestion (0: the most likely),
//                      "#rrggbb" sets the colour picker
//   --move I,X,Y       drag pin I (0: the first placed) to photo pixel (X, Y)
//   --remove I         click pin I, then "Remove pin"
//   --reference FILE   drop a reference photo on the page's reference area
//   --strength S       move the reference strength slider to S
//   --save FILE        click "Download PNG" and save the photo as shown now to FILE
//
// Each action but --save waits until the page has coloured the photo again. steer() returns what the page did: its
// pins ({ x, y, hex } in photo pixels), the suggestions it offered at each --pin (their a, b and probabilities), the
// seconds from each action to the recoloured photo (the page's own timer, body.dataset.pinSeconds), the page's
// status line then (which gives the network's share) and a digest of the photo shown (canvasDigest).
import { readFileSync } from "node:fs";
import { basename } from "node:path";

const ACTIONS = ["--pin", "--move", "--remove", "--reference", "--strength", "--save"];
const TIMEOUT_MS = 10 * 60 * 1000;

/** Removes the steering actions from argv; returns them, in order, as [name, value]. */
export function steeringActions(argv) {
  const actions = [];
  for (let at = 0; at < argv.length;) {
    if (ACTIONS.includes(argv[at])) actions.push(argv.splice(at, 2));
    else at++;
  }
  return actions;
}

/** Client coordinates of photo pixel (x, y)'s centre on the coloured photo, scrolled into the middle of the view. */
async function pointOf(page, x, y) {
  return page.evaluate(([x, y]) => {
    const canvas = document.getElementById("colour");
    const at = (box) => [box.left + ((x + 0.5) * box.width) / canvas.width,
      box.top + ((y + 0.5) * box.height) / canvas.height];
    window.scrollBy(0, at(canvas.getBoundingClientRect())[1] - window.innerHeight / 2);
    return at(canvas.getBoundingClientRect());
  }, [x, y]);
}

/** Runs act(), then waits until the page has coloured the photo for the guidance act() set. */
async function recoloured(page, act) {
  const before = await page.evaluate(() => document.body.dataset.guideVersion ?? "");
  await act();
  await page.waitForFunction((previous) => {
    const { state, guideVersion, colouredVersion } = document.body.dataset;
    return state === "error" || (state === "done" && guideVersion !== previous && colouredVersion === guideVersion);
  }, before, { timeout: TIMEOUT_MS });
  if (await page.evaluate(() => document.body.dataset.state) === "error") {
    throw new Error(`the page says: ${await page.textContent("#status")}`);
  }
  return Number(await page.evaluate(() => document.body.dataset.pinSeconds));
}

/** The page's status line after an action (its run time and the network's share). */
const status = (page) => page.textContent("#status");

async function pin(page, value) {
  const [x, y, colour] = value.split(",");
  await page.mouse.click(...await pointOf(page, Number(x), Number(y)));
  await page.waitForSelector(".guide-palette[data-state=ready]", { timeout: TIMEOUT_MS });
  const suggestions = await page.$$eval(".guide-swatch", (swatches) => swatches.map(
    (swatch) => ({ hex: swatch.dataset.hex, ab: swatch.dataset.ab.split(",").map(Number),
      probability: Number(swatch.dataset.probability) })));
  const nth = colour.startsWith("#") ? null : Number(colour.slice("suggestion".length) || 0);
  if (nth >= suggestions.length) throw new Error(`--pin ${value}: the page offers ${suggestions.length} suggestion(s)`);
  const seconds = await recoloured(page, async () => {
    if (nth === null) await page.fill(".guide-palette .guide-picker", colour);
    else await page.click(`.guide-swatch >> nth=${nth}`);
  });
  return { suggestions, seconds, status: await status(page) };
}

async function move(page, value) {
  const [index, x, y] = value.split(",").map(Number);
  const [toX, toY] = await pointOf(page, x, y);
  const marker = await page.locator(`.guide-pin >> nth=${index}`).boundingBox();
  const seconds = await recoloured(page, async () => {
    await page.mouse.move(marker.x + marker.width / 2, marker.y + marker.height / 2);
    await page.mouse.down();
    await page.mouse.move(toX, toY, { steps: 8 });
    await page.mouse.up();
  });
  return { seconds, status: await status(page) };
}

async function remove(page, value) {
  await page.click(`.guide-pin >> nth=${Number(value)}`);
  await page.waitForSelector(".guide-palette .guide-remove:not([hidden])");
  const seconds = await recoloured(page, () => page.click(".guide-palette .guide-remove"));
  return { seconds, status: await status(page) };
}

async function reference(page, path) {
  const seconds = await recoloured(page, async () => {
    const dataTransfer = await page.evaluateHandle(({ bytes, name }) => {
      const transfer = new DataTransfer();
      transfer.items.add(new File([new Uint8Array(bytes)], name));
      return transfer;
    }, { bytes: [...readFileSync(path)], name: basename(path) });
    await page.dispatchEvent("#reference-drop", "drop", { dataTransfer });
  });
  return { seconds, status: await status(page) };
}

async function strength(page, value) {
  const seconds = await recoloured(page, () => page.evaluate((wanted) => {
    const slider = document.getElementById("reference-strength");
    slider.value = wanted;
    slider.dispatchEvent(new Event("input", { bubbles: true }));
  }, value));
  return { seconds, status: await status(page) };
}

async function save(page, path) {
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#download-png")]);
  await download.saveAs(path);
  return {};
}

/** SHA-256 (hex) of the coloured photo's RGBA pixels as shown: equal digests, the same photo to the bit. */
export function canvasDigest(page) {
  return page.evaluate(async () => {
    const canvas = document.getElementById("colour");
    const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
    return [...digest].map((byte) => byte.toString(16).padStart(2, "0")).join("");
  });
}

/** Runs the actions on the page (a photo already coloured); { pins, steps: [{ action, seconds, digest, ... }] }. */
export async function steer(page, actions) {
  const run = { "--pin": pin, "--move": move, "--remove": remove, "--reference": reference, "--strength": strength,
    "--save": save };
  const steps = [];
  for (const [action, value] of actions) {
    steps.push({ action: `${action} ${value}`, ...await run[action](page, value), digest: await canvasDigest(page) });
  }
  const pins = JSON.parse(await page.evaluate(() => document.body.dataset.pins ?? "[]"));
  return { pins, steps };
}

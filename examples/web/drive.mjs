#!/usr/bin/env node
// Drives the page in headless Chromium as a person would: picks a photo, waits for the colours, optionally moves
// the saturation and before / after sliders, clicks "Download PNG" and saves the download. Used by
// tests/test_embedding.py and for the timings in docs/EMBEDDING.md; prints one JSON line (the page's run time,
// size, threads, isolation, the network's runs, what the progress bar showed, and on Linux the renderer
// process's peak memory).
//
//   node drive.mjs PAGE_URL PHOTO OUTPUT.png [--early] [--saturation F] [--before-after P]
//                  [--screenshot FILE.(png|jpg)] [STEERING...]
//   node drive.mjs PAGE_URL --until-loaded      # {state, status} once the page has loaded its model, or failed to
//
// --early picks the photo while the model is still loading (its download is held back until the photo is in).
// STEERING: pins and a reference photo, as steer.mjs describes (--pin X,Y,COLOUR, --move I,X,Y, --remove I,
// --reference FILE, --strength S, --save FILE), done in order after the saturation and before the download; the
// JSON line then also has automaticDigest, the digest of the photo as first coloured (steer.mjs's canvasDigest).
//
// Chromium: $CHROMIUM, else /usr/bin/chromium (Debian's package); playwright-core drives it (no browser download).
import { readdirSync, readFileSync } from "node:fs";
import { chromium } from "playwright-core";
import { canvasDigest, steer, steeringActions } from "./steer.mjs";

const RUN_TIMEOUT_MS = 15 * 60 * 1000;

function option(argv, name) {
  const at = argv.indexOf(name);
  return at < 0 ? undefined : argv.splice(at, 2)[1];
}

async function waitForState(page, state) {
  await page.waitForFunction(
    (wanted) => ["error", wanted].includes(document.body.dataset.state), state, { timeout: RUN_TIMEOUT_MS });
  const reached = await page.evaluate(() => document.body.dataset.state);
  if (reached !== state) throw new Error(`the page says: ${await page.textContent("#status")}`);
}

/** Linux: the largest peak resident memory (VmHWM, MB) of this process's descendant Chromium renderers. */
function rendererPeakMegabytes() {
  const children = new Map();
  const read = (pid, file) => { try { return readFileSync(`/proc/${pid}/${file}`, "utf8"); } catch { return ""; } };
  for (const pid of readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
    const parent = read(pid, "stat").replace(/^.*\) \S+ /s, "").split(" ")[0];
    children.set(parent, [...(children.get(parent) ?? []), pid]);
  }
  let peak = 0;
  const visit = (pid) => {
    for (const child of children.get(pid) ?? []) {
      if (read(child, "cmdline").includes("--type=renderer")) {
        const kilobytes = Number(/VmHWM:\s+(\d+)/.exec(read(child, "status"))?.[1] ?? 0);
        peak = Math.max(peak, kilobytes / 1024);
      }
      visit(child);
    }
  };
  visit(String(process.pid));
  return Math.round(peak);
}

/** Runs in the page before its own scripts: notes [state, value or null] whenever the progress bar, shown,
 * changes (window.progressSeen). */
function recordProgress() {
  window.progressSeen = [];
  new MutationObserver(() => {
    const bar = document.getElementById("progress");
    if (bar && !bar.hidden) {
      window.progressSeen.push([document.body.dataset.state, bar.hasAttribute("value") ? bar.value : null]);
    }
  }).observe(document, { subtree: true, attributes: true, attributeFilter: ["data-state", "value", "hidden"] });
}

async function main(argv) {
  const saturation = option(argv, "--saturation");
  const beforeAfter = option(argv, "--before-after");
  const screenshot = option(argv, "--screenshot");
  const flag = (name) => argv.includes(name) && argv.splice(argv.indexOf(name), 1).length > 0;
  const early = flag("--early"), untilLoaded = flag("--until-loaded");
  const actions = steeringActions(argv); // --pin, --move, --remove, --reference, --strength, --save (steer.mjs)
  if (argv.length !== (untilLoaded ? 1 : 3)) {
    console.error("usage: node drive.mjs PAGE_URL PHOTO OUTPUT.png [--early] [--saturation F] [--before-after P] " +
      "[--screenshot FILE.(png|jpg)] [STEERING...]\n       node drive.mjs PAGE_URL --until-loaded");
    return 2;
  }
  const [url, photo, output] = argv;
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    chromiumSandbox: false,
    args: ["--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 720 }, acceptDownloads: true });
    page.on("console", (message) => { if (message.type() === "error") console.error(`page: ${message.text()}`); });
    page.on("pageerror", (error) => console.error(`page: ${error.message}`));
    await page.addInitScript(recordProgress);
    if (untilLoaded) {
      await page.goto(url);
      await page.waitForFunction(() => ["ready", "error"].includes(document.body.dataset.state), null,
        { timeout: RUN_TIMEOUT_MS });
      console.log(JSON.stringify(await page.evaluate(() => ({
        state: document.body.dataset.state, status: document.getElementById("status").textContent }))));
      return 0;
    }
    let queued = null; // with --early: the status line while the photo waited for the model
    if (early) {
      let photoIn;
      const held = new Promise((resolve) => { photoIn = resolve; });
      await page.route((address) => address.pathname.endsWith(".onnx"), async (route) => {
        await held;
        await route.continue();
      });
      await page.goto(url, { waitUntil: "commit" });
      await page.waitForFunction(() => document.body?.dataset.state === "loading" && document.getElementById("file"));
      await page.setInputFiles("#file", photo);
      await page.waitForFunction(() => document.body.dataset.state === "loading" &&
        document.getElementById("status").textContent.includes("once it has loaded"));
      queued = await page.textContent("#status");
      photoIn();
    } else {
      await page.goto(url);
      await waitForState(page, "ready");
      await page.setInputFiles("#file", photo);
    }
    await waitForState(page, "done");
    const automaticDigest = actions.length ? await canvasDigest(page) : undefined;
    let seconds = Number(await page.evaluate(() => document.body.dataset.seconds));
    if (saturation !== undefined) {
      await page.evaluate((value) => { // what letting go of the slider at value does
        const slider = document.getElementById("saturation");
        slider.value = value;
        slider.dispatchEvent(new Event("input", { bubbles: true }));
        slider.dispatchEvent(new Event("change", { bubbles: true }));
      }, saturation);
      await page.waitForFunction((wanted) => document.body.dataset.state === "done" &&
        document.getElementById("status").textContent.includes(`saturation ${Number(wanted).toFixed(2)}`),
      saturation, { timeout: RUN_TIMEOUT_MS });
      seconds = Number(await page.evaluate(() => document.body.dataset.seconds));
    }
    if (beforeAfter !== undefined) {
      await page.evaluate((value) => {
        const slider = document.getElementById("before-after");
        slider.value = value;
        slider.dispatchEvent(new Event("input", { bubbles: true }));
      }, beforeAfter);
    }
    const steered = actions.length ? await steer(page, actions) : {};
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("#download-png")]);
    await download.saveAs(output);
    if (screenshot) { // JPEG for a .jpg name (docs/web_page.jpg), else PNG
      const jpeg = /\.jpe?g$/i.test(screenshot);
      await page.screenshot({ path: screenshot, fullPage: true, ...(jpeg ? { type: "jpeg", quality: 85 } : {}) });
    }
    const facts = await page.evaluate(() => ({
      width: document.getElementById("colour").width,
      height: document.getElementById("colour").height,
      threads: navigator.hardwareConcurrency,
      crossOriginIsolated: self.crossOriginIsolated,
      runs: Number(document.body.dataset.runs ?? 0),
      beforeClip: document.getElementById("gray").style.clipPath,
      progressSeen: window.progressSeen,
    }));
    const rendererPeakMB = rendererPeakMegabytes();
    console.log(JSON.stringify({ seconds, ...facts, download: download.suggestedFilename(), rendererPeakMB, queued,
      automaticDigest, ...steered }));
    return 0;
  } finally {
    await browser.close();
  }
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (error) => {
  console.error(`drive: ${error.message}`);
  process.exitCode = 1;
});

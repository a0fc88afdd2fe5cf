"""The page's guided colour (examples/web/guided.js) with the shipped guided file, against colorize-run (issue 34
item 4): its arithmetic against colorize_runtime's (pins.pinned_colour, guided.palette, guided.transfer_reference)
in Node.js, then the page in headless Chromium: pins and their suggestions as `colorize-run --hint` and
`--suggest`, removing the pins returns the automatic view to the bit, a reference at two strengths as
`colorize-run --reference --reference-strength`, and a pin recolours a 1 MP photo within PIN_SECONDS."""
from __future__ import annotations

import json
import statistics
import subprocess

import cv2
import numpy as np
import pytest

from colorize_runtime import Colorizer, colour, guided, pins
from export import allinone
from tests.conftest import SAMPLE_PHOTO
from tests.test_embedding import (  # noqa: F401 (shipped_page: a fixture used by name; skips without torch)
    WEB_EXAMPLE, colorize_run, drive_page, sample_photo, shipped_page)

PIN_SECONDS = 0.5  # issue 34: a pin recolours a 1 MP photo in at most half a second (the median of several pins)


def hint_options(pins_placed) -> list[str]:
    return [option for pin in pins_placed for option in ("--hint", f"{pin['x']},{pin['y']},{pin['hex']}")]


def page_values(got_path, expected_path) -> tuple[float, float]:
    """Shares of the values of the page's download within 1 and 2 levels of colorize-run's output."""
    got, expected = (cv2.imread(str(path), cv2.IMREAD_COLOR) for path in (got_path, expected_path))
    assert got.shape == expected.shape
    return allinone.shares_within(got, expected)


def run_node(script: str, data: dict) -> dict:
    """A Node.js module script run in examples/web with data as JSON on its standard input; its JSON output."""
    result = subprocess.run(["node", "--input-type=module", "-e", script], input=json.dumps(data), cwd=WEB_EXAMPLE,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_pages_pins_palette_and_reference_arithmetic_is_the_runtimes():
    """guided.js's pinnedColour, palette and transferReference on the same inputs as pins.py and guided.py (a
    working-size plane of the sample photo, its own colours as the automatic ones, a noisy answer, three pins):
    the same numbers to float32 rounding, the same palette."""
    photo = cv2.resize(cv2.imread(str(SAMPLE_PHOTO)), (213, 160), interpolation=cv2.INTER_AREA)
    lab = colour.bgr_to_lab(photo)
    lightness, automatic = lab[..., 0].copy(), lab[..., 1:].copy()
    rng = np.random.default_rng(34)
    answer = (automatic + rng.normal(0, 5, automatic.shape)).astype(np.float32)
    placed = [(30, 40, (40.0, 20.0)), (120, 180, (-20.0, 35.5)), (80, 100, (5.0, -30.0))]
    cells = Colorizer("guided").ab_cells
    probabilities = rng.dirichlet(np.full(len(cells), 0.3)).astype(np.float32)
    reference = guided.Reference(None, guided.band_means(lightness, automatic)[::-1].copy())  # other colours
    planar = lambda ab: np.moveaxis(ab, -1, 0).ravel().tolist()  # noqa: E731 (guided.js's [2, h, w])
    got = run_node("""
        import { readFileSync } from "node:fs";
        import { palette, pinnedColour, transferReference } from "./guided.js";
        const d = JSON.parse(readFileSync(0, "utf8")), f = (values) => Float32Array.from(values);
        const ab = pinnedColour(f(d.lightness), f(d.automatic), f(d.answer), d.h, d.w, d.pins);
        const moved = transferReference(f(d.answer), f(d.lightness), f(d.referenceMeans), 0.5);
        console.log(JSON.stringify({ ab: [...ab], moved: [...moved], palette: palette(f(d.probabilities), d.cells) }));
    """, {"lightness": lightness.ravel().tolist(), "automatic": planar(automatic), "answer": planar(answer),
          "h": 160, "w": 213, "pins": [{"row": r, "column": c, "a": a, "b": b} for r, c, (a, b) in placed],
          "probabilities": probabilities.tolist(), "cells": cells.tolist(),
          "referenceMeans": reference.band_means.ravel().tolist()})
    as_image = lambda values: np.moveaxis(np.array(values, np.float32).reshape(2, 160, 213), 0, -1)  # noqa: E731
    expected = pins.pinned_colour(lightness, automatic, answer, placed)
    assert np.abs(expected - automatic).max() > 30  # the pins move colours
    assert np.abs(as_image(got["ab"]) - expected).max() < 1e-3
    moved = guided.transfer_reference(answer, lightness, reference, 0.5)
    assert np.abs(moved - answer).max() > 1 and np.abs(as_image(got["moved"]) - moved).max() < 1e-4
    expected_palette = guided.palette(probabilities, cells)
    assert len(expected_palette) >= 3
    assert [tuple(suggestion["ab"]) for suggestion in got["palette"]] == [ab for ab, _ in expected_palette]
    assert np.allclose([suggestion["probability"] for suggestion in got["palette"]],
                       [share for _, share in expected_palette], atol=1e-6)


@pytest.fixture(scope="module")
def steered(shipped_page, tmp_path_factory):
    """The page steered on a 400 x 300 colour photo: a suggestion pinned (saved), a colour pinned and that pin
    dragged (saved), both removed; then a reference dropped (saved), its strength at 0.5 (saved) and at 0.
    (folder, drive.mjs's facts)."""
    folder = tmp_path_factory.mktemp("steered")
    cv2.imwrite(str(folder / "photo.png"), sample_photo(300, 400))
    cv2.imwrite(str(folder / "reference.png"), sample_photo(300, 400)[::-1, ::-1])  # other colours by lightness
    facts = drive_page(shipped_page, folder / "photo.png", folder / "download.png",
                       "--pin", "100,60,suggestion", "--save", folder / "one_pin.png",
                       "--pin", "250,180,#2050d0", "--move", "1,200,150", "--save", folder / "two_pins.png",
                       "--remove", "1", "--remove", "0",
                       "--reference", folder / "reference.png", "--save", folder / "reference_1.png",
                       "--strength", "0.5", "--save", folder / "reference_0.5.png", "--strength", "0")
    return folder, facts


def test_the_pages_suggestions_are_colorize_runs(steered, capsys):
    """At each click the palette is `colorize-run --suggest X,Y` given the pins so far: the same colours (the same
    a, b cells, as the API gives them) in the same order, each #rrggbb within a level a channel (the page's and
    OpenCV's Lab -> sRGB round apart now and then), the same probabilities to 0.01."""
    folder, facts = steered
    first, second = (step["suggestions"] for step in facts["steps"] if step["action"].startswith("--pin"))
    first_pin = {"x": 100, "y": 60, "hex": first[0]["hex"]}
    levels = lambda hex_colour: [int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)]  # noqa: E731
    same_hex = 0
    for page, (x, y), given in ((first, (100, 60), []), (second, (250, 180), [first_pin])):
        printed = [line.split() for line in colorize_run(capsys, folder / "photo.png", "--suggest", f"{x},{y}",
                                                         *hint_options(given)).splitlines()]
        api = Colorizer("guided").suggest(folder / "photo.png", x, y, [(pin["x"], pin["y"], pin["hex"])
                                                                        for pin in given])
        assert [tuple(suggestion["ab"]) for suggestion in page] == [suggestion.ab for suggestion in api]
        assert [suggestion.hex for suggestion in api] == [hex_colour for hex_colour, _ in printed]
        for suggestion, (hex_colour, _) in zip(page, printed):
            assert np.abs(np.subtract(levels(suggestion["hex"]), levels(hex_colour))).max() <= 1, (page, printed)
            same_hex += suggestion["hex"] == hex_colour
        assert np.allclose([suggestion["probability"] for suggestion in page],
                           [float(probability) for _, probability in printed], atol=0.01)
    with capsys.disabled():
        print(f"\nthe page's suggestions: {same_hex} of {len(first) + len(second)} the same #rrggbb as "
              "colorize-run --suggest's, the rest a level apart")
    assert len(first) >= 3


def test_the_pages_pins_are_colorize_runs_and_removing_them_returns_the_automatic_view(steered, capsys):
    folder, facts = steered
    pinned = {"x": 100, "y": 60, "hex": facts["steps"][0]["suggestions"][0]["hex"]}  # the first action's pin
    moved = {"x": 200, "y": 150, "hex": "#2050d0"}
    for saved, placed in (("one_pin.png", [pinned]), ("two_pins.png", [pinned, moved])):
        expected = folder / f"expected_{saved}"
        colorize_run(capsys, folder / "photo.png", *hint_options(placed), "-o", expected)
        within_one, within_two = page_values(folder / saved, expected)
        with capsys.disabled():  # pytest -s shows it
            print(f"\nthe page with {len(placed)} pin(s) vs colorize-run --hint: {within_one:.2%} of values within "
                  f"1 level, {within_two:.2%} within 2")
        assert allinone.agrees((within_one, within_two))
    removed = [step for step in facts["steps"] if step["action"].startswith("--remove")][-1]
    assert removed["digest"] == facts["automaticDigest"]  # the automatic view itself, to the bit


def test_the_pages_reference_and_its_strength_are_colorize_runs(steered, capsys):
    """The all-in-one parity thresholds: the shift is interpolated between the bands of lightness
    (guided.transfer_reference), so the page's working lightness (exact formulas, as the all-in-one file), which
    differs from colorize-run's (OpenCV's area reduction and float Lab conversion) by up to about 0.4, moves a
    colour only a little."""
    folder, facts = steered
    for strength in ("1", "0.5"):
        expected = folder / f"expected_reference_{strength}.png"
        colorize_run(capsys, folder / "photo.png", "--reference", folder / "reference.png",
                     "--reference-strength", strength, "-o", expected)
        within_one, within_two = page_values(folder / f"reference_{strength}.png", expected)
        with capsys.disabled():
            print(f"\nthe page with a reference at strength {strength} vs colorize-run: {within_one:.2%} of values "
                  f"within 1 level, {within_two:.2%} within 2")
        assert within_one >= 0.99 and within_two >= 0.999
    assert facts["steps"][-1]["digest"] == facts["automaticDigest"]  # strength 0: the reference ignored


def test_a_pin_recolours_a_1_mp_photo_within_half_a_second(shipped_page, tmp_path, capsys):
    source, output, expected = tmp_path / "photo.png", tmp_path / "download.png", tmp_path / "expected.png"
    cv2.imwrite(str(source), sample_photo(864, 1152))
    facts = drive_page(shipped_page, source, output, "--pin", "600,250,#d03020", "--pin", "200,700,suggestion",
                       "--pin", "900,600,#30a040", "--pin", "400,450,suggestion1", "--pin", "1000,100,#e0c020")
    seconds = [step["seconds"] for step in facts["steps"]]
    with capsys.disabled():  # pytest -s shows it
        print(f"\na pin recoloured the 1152 x 864 photo in {seconds} s (median {statistics.median(seconds)})")
    colorize_run(capsys, source, *hint_options(facts["pins"]), "-o", expected)
    assert allinone.agrees(page_values(output, expected))
    assert statistics.median(seconds) <= PIN_SECONDS, seconds

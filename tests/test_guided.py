"""Guided colour: the network's hint branches, the export's parity, the runtime's hints, reference photo and
suggested colours (API), and train.evaluate's simulated hints. The command line's options are in test_cli_guided."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from colorize_runtime import Colorizer, ColorizeError, colour, guided
from colorize_runtime.colorizer import shipped_model_path
from tests.conftest import SAMPLE_PHOTO, photo_like

GUIDED = shipped_model_path("guided")


@pytest.fixture(scope="module")
def guided_colorizer() -> Colorizer:
    return Colorizer("guided", threads=2)


def ab_at(bgr: np.ndarray, x: int, y: int) -> np.ndarray:
    return colour.bgr_to_lab(np.ascontiguousarray(bgr[y:y + 1, x:x + 1]))[0, 0, 1:]


def pinned_ab(color: str, gray_level: int) -> np.ndarray:
    """The a, b a pin of color gives on a gray pixel of gray_level: the hint's a, b with the photo's lightness,
    clipped into the sRGB gamut as the output is."""
    lightness = float(colour.gray_to_lightness(np.array([[gray_level]], np.uint8))[0, 0])
    return np.array(guided.colour_ab(guided.lab_hex(lightness, guided.colour_ab(color))))


def test_parse_hints_and_colours():
    hint = guided.parse_hint("12,34,#ff0000")
    assert (hint.x, hint.y, hint.color) == (12, 34, "#ff0000") and hint.ab[0] > 60  # red: large a
    assert guided.parse_hint("1,2,navy").ab[1] < -40  # CSS name: navy is blue, negative b
    assert np.allclose(guided.parse_hint("0,0,white").ab, 0, atol=0.5)
    for bad in ("12,34", "a,b,red", "1,2,reddish", "1,2,#12345", "1,2,"):
        with pytest.raises(ColorizeError):
            guided.parse_hint(bad)
    assert guided.parse_point("3.5,4") == (3.5, 4)
    with pytest.raises(ColorizeError):
        guided.parse_point("3")


def test_hints_file_list_and_per_file(tmp_path):
    listed = tmp_path / "list.json"
    listed.write_text(json.dumps([{"x": 1, "y": 2, "color": "red"}]))
    assert [h.color for h in guided.read_hints_file(listed)] == ["red"]
    keyed = tmp_path / "keyed.json"
    keyed.write_text(json.dumps({"a.jpg": [{"x": 1, "y": 2, "color": "#00ff00"}], "b.jpg": []}))
    assert set(guided.read_hints_file(keyed)) == {"a.jpg", "b.jpg"}
    for text, reason in (("{not json", "not JSON"), ('[{"x": 1, "y": 2}]', "keys"), ('"red"', "expected"),
                         ('[{"x": 1, "y": 2, "color": "mauvish"}]', "unknown colour")):
        bad = tmp_path / "bad.json"
        bad.write_text(text)
        with pytest.raises(ColorizeError, match=reason) as error:
            guided.read_hints_file(bad)
        assert str(bad) in str(error.value)
    with pytest.raises(ColorizeError, match="cannot read"):
        guided.read_hints_file(tmp_path / "missing.json")


def test_hint_plane_maps_photo_pixels_to_the_working_resolution():
    plane = guided.hint_plane([guided.Hint.make(999, 0, "red")], (500, 1000), (80, 160), colour.contract_metadata())
    assert plane.shape == (3, 80, 160)
    rows, columns = np.nonzero(plane[2])
    assert rows.min() == 0 and columns.max() == 159 and len(rows) == 2 * 2  # the pin, cut by the corner
    assert np.allclose(plane[0][plane[2] == 1], guided.colour_ab("red")[0] / colour.AB_SCALE)


def test_the_palette_is_distinct_colours_most_likely_first():
    cells = np.stack(np.meshgrid(np.arange(-50, 60, 10), np.arange(-50, 60, 10), indexing="ij"), -1).reshape(-1, 2)
    probabilities = np.zeros(len(cells))
    probabilities[np.all(cells == (40, 40), axis=1)] = 0.5
    probabilities[np.all(cells == (-30, -20), axis=1)] = 0.3
    probabilities[np.all(cells == (-30, -10), axis=1)] = 0.1  # 10 units from the one before: the same colour
    probabilities[np.all(cells == (0, 0), axis=1)] = 0.1
    colours = guided.palette(probabilities, cells.astype(np.float32))
    assert [ab for ab, _ in colours[:3]] == [(40, 40), (-30, -20), (0, 0)]
    assert [share for _, share in colours[:3]] == pytest.approx([0.5, 0.4, 0.1])
    abs_ = np.array([ab for ab, _ in colours])
    gaps = np.hypot(*(abs_[:, None] - abs_[None]).transpose(2, 0, 1))[~np.eye(len(abs_), dtype=bool)]
    assert len(colours) <= guided.SUGGESTIONS and gaps.min() >= guided.SUGGESTION_SPACING


def test_without_hints_the_guided_model_is_the_default_one(guided_colorizer):
    photo = cv2.imread(str(SAMPLE_PHOTO), cv2.IMREAD_GRAYSCALE)
    default = Colorizer(threads=2).colorize(photo)
    assert np.abs(guided_colorizer.colorize(photo).astype(int) - default).max() <= 1  # float noise in rounding
    assert guided_colorizer.metadata["hints"]["ab_cells"] and len(guided_colorizer.ab_cells) == 243


@pytest.mark.parametrize("color", ["#c03030", "#3050c0", "#30a040"])
def test_a_hint_colours_the_region_around_it(guided_colorizer, color):
    gray = np.full((300, 420), 140, np.uint8)
    gray[60:240, 80:300] = 100  # a darker object on a plain background
    out = guided_colorizer.colorize(gray, hints=[(190, 150, color)])
    assert out.shape == (300, 420, 3)
    hint_ab = pinned_ab(color, 100)
    assert np.linalg.norm(ab_at(out, 190, 150) - hint_ab) < 5
    automatic = guided_colorizer.colorize(gray)
    away = (120, 100)  # inside the object, 70 px from the pin
    assert np.linalg.norm(ab_at(out, *away) - hint_ab) < np.linalg.norm(ab_at(automatic, *away) - hint_ab)
    lightness = colour.bgr_to_lab(out)[..., 0]
    assert np.abs(lightness - colour.lightness(gray)).mean() < 1.5  # the photo's own lightness is kept


def test_a_pin_on_a_small_object_leaves_the_rest_of_the_photo_alone(guided_colorizer):
    """A red shutter pinned on a gray wall: the shutter turns red, the wall keeps its automatic colour."""
    gray = np.full((240, 360), 150, np.uint8)
    gray[100:140, 60:90] = 90  # the shutter: darker than the wall, with an edge all round
    automatic = guided_colorizer.colorize(gray)
    pinned = guided_colorizer.colorize(gray, hints=[(75, 120, "#c0392b")])
    assert np.linalg.norm(ab_at(pinned, 75, 120) - pinned_ab("#c0392b", 90)) < 5
    assert np.linalg.norm(ab_at(pinned, 65, 105) - pinned_ab("#c0392b", 90)) < 10  # the whole shutter
    wall = np.ones(gray.shape, bool)
    wall[90:150, 50:100] = False
    change = np.hypot(*(colour.bgr_to_lab(pinned)[..., 1:] - colour.bgr_to_lab(automatic)[..., 1:])
                      .transpose(2, 0, 1))
    shutter = change[100:140, 60:90].mean()
    assert shutter > 40 and change[wall].mean() < 0.05 * shutter  # the automatic wall of this flat photo is green


def test_pins_that_match_the_automatic_colours_change_nothing(guided_colorizer):
    gray = cv2.imread(str(SAMPLE_PHOTO), cv2.IMREAD_GRAYSCALE)
    automatic = guided_colorizer.colorize(gray)
    plane = guided_colorizer.working_lightness(gray)
    ab = guided_colorizer.colour_of_lightness(plane)
    from colorize_runtime import pins
    seeds = [(20, 30), (60, 100)]
    same = pins.pinned_colour(plane, ab, ab, [(row, column, tuple(ab[row, column])) for row, column in seeds])
    assert np.abs(same - ab).max() < 1e-4
    assert np.array_equal(guided_colorizer.colorize(gray, hints=[]), automatic)


def test_pins_far_from_every_pixel_give_finite_colours():
    """Reaches that underflow to 0 for every pin (far away, across strong edges) leave the automatic colour."""
    from colorize_runtime import pins
    lightness = np.tile(np.where(np.arange(120) % 2, 5.0, 95.0), (80, 1))  # an edge at every column
    automatic = np.zeros((80, 120, 2), np.float32)
    ab = pins.pinned_colour(lightness, automatic, automatic + 5, [(0, 0, (60.0, 0.0)), (79, 1, (0.0, -60.0))])
    assert np.isfinite(ab).all()
    assert np.allclose(ab[:, 60:], 0, atol=1e-3) and np.allclose(ab[0, 0], (60, 0))


def test_geodesic_distances_stop_at_edges():
    from colorize_runtime import pins
    lightness = np.full((40, 60), 50.0)
    lightness[:, 30:] = 80.0  # an edge down the middle
    distances = pins.geodesic_distances(lightness, np.zeros((40, 60, 2)), [(20, 10)])[0]
    assert distances[20, 10] == 0 and distances[20, 29] == pytest.approx(19)
    assert distances[20, 30] == pytest.approx(20 + pins.EDGE_COST_L * 30)
    assert distances[0, 0] == pytest.approx(30)  # 20 up and 10 left


def test_hints_on_a_large_photo_reach_every_window(guided_colorizer):
    gray = cv2.cvtColor(photo_like(700, 1500, seed=3), cv2.COLOR_BGR2GRAY)
    guided_colorizer_full = Colorizer("guided", threads=2, size=None)  # native resolution: many windows
    hints = [(100, 100, "#2040d0"), (1400, 600, "#d04020")]
    out = guided_colorizer_full.colorize(gray, hints=hints)
    for x, y, color in hints:
        assert np.linalg.norm(ab_at(out, x, y) - pinned_ab(color, gray[y, x])) < 5


def test_reference_photo_moves_the_colours_towards_its_own(guided_colorizer):
    photo = cv2.imread(str(SAMPLE_PHOTO))
    gray = cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY)
    blue = np.zeros_like(photo)
    blue[:] = (200, 90, 30)  # BGR: a blue reference
    red = blue[..., ::-1].copy()
    mean_b = {name: colour.bgr_to_lab(guided_colorizer.colorize(gray, reference=ref))[..., 2].mean()
              for name, ref in (("blue", blue), ("red", red))}
    assert mean_b["blue"] < mean_b["red"]
    reference = guided_colorizer.reference(SAMPLE_PHOTO)  # a path, read once, reused
    assert guided_colorizer.colorize(gray, reference=reference).shape == photo.shape


def test_the_reference_strength_sets_how_far_its_colours_go(guided_colorizer):
    photo = cv2.imread(str(SAMPLE_PHOTO))
    gray = cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY)
    blue = np.zeros_like(photo)
    blue[:] = (200, 90, 30)
    mean_b = [colour.bgr_to_lab(guided_colorizer.colorize(gray, reference=blue, reference_strength=strength))
              [..., 2].mean() for strength in (0, 0.5, 1, 2)]
    assert mean_b[0] > mean_b[1] > mean_b[2] > mean_b[3]
    assert mean_b[2] < mean_b[0] - 5  # at the default a person sees it
    assert np.array_equal(guided_colorizer.colorize(gray, reference=blue, reference_strength=0),
                          guided_colorizer.colorize(gray))
    for bad in (-0.1, 3.5, "strong", None):
        with pytest.raises(ColorizeError, match="reference strength"):
            guided_colorizer.colorize(gray, reference=blue, reference_strength=bad)


def test_a_reference_draws_no_contours_across_a_smooth_sky():
    """The shift of each band of lightness is interpolated between the bands: along a smooth ramp of L the colour
    moves smoothly, with no step at a band's edge."""
    lightness = np.tile(np.linspace(0, 100, 400, dtype=np.float32), (20, 1))
    reference = guided.Reference(np.zeros(243, np.float32),
                                 np.stack([np.arange(10) * 8.0, -np.arange(10) * 5.0], axis=1).astype(np.float32))
    moved = guided.transfer_reference(np.zeros((20, 400, 2), np.float32), lightness, reference, 2.0)
    steps = np.abs(np.diff(moved[0], axis=0)).max()
    assert moved[0, -1, 0] > moved[0, 0, 0] + 20 and steps < 0.2  # 0.6 x 8 units a band over 40 columns


def test_bad_hints_and_references_are_errors(guided_colorizer, tmp_path):
    gray = np.full((50, 80), 128, np.uint8)
    cases = [({"hints": [(80, 10, "red")]}, "outside the 80x50 photo"),
             ({"hints": [(-1, 10, "red")]}, "outside"),
             ({"hints": [(1, 1, "no-such-colour")]}, "unknown colour"),
             ({"hints": "1,1,red"}, "hints must be a list"),
             ({"hints": [{"x": 1, "color": "red"}]}, "keys"),
             ({"reference": np.full((20, 20), 99, np.uint8)}, "has no colour"),
             ({"reference": np.full((20, 20, 3), 99, np.uint8)}, "has no colour"),
             ({"reference": tmp_path / "missing.jpg"}, "not a readable colour photo"),
             ({"reference": 5}, "reference must be")]
    for options, reason in cases:
        with pytest.raises(ColorizeError, match=reason):
            guided_colorizer.colorize(gray, **options)
    with pytest.raises(ColorizeError, match="takes no hints"):
        Colorizer(threads=1).colorize(gray, hints=[(1, 1, "red")])


def test_suggested_colours_follow_a_pin(guided_colorizer):
    gray = np.full((200, 200), 120, np.uint8)
    suggestions = guided_colorizer.suggest(gray, 100, 100)
    assert 1 <= len(suggestions) <= guided.SUGGESTIONS
    assert all(s.hex.startswith("#") and len(s.hex) == 7 for s in suggestions)
    assert sum(s.probability for s in suggestions) <= 1 + 1e-6
    assert [s.probability for s in suggestions] == sorted((s.probability for s in suggestions), reverse=True)
    assert len(suggestions) >= 3
    abs_ = np.array([s.ab for s in suggestions])
    assert min(np.hypot(*(a - b)) for i, a in enumerate(abs_) for b in abs_[i + 1:]) >= 10  # distinct
    pinned = guided_colorizer.suggest(gray, 100, 100, hints=[(100, 100, "#2060e0")])
    assert np.linalg.norm(np.array(pinned[0].ab) - guided.colour_ab("#2060e0")) < 25
    with pytest.raises(ColorizeError, match="outside"):
        guided_colorizer.suggest(gray, 300, 10)


def test_a_guided_file_without_its_hint_contract_is_refused(tmp_path):
    import onnx

    model = onnx.load(str(GUIDED))
    kept = [p for p in model.metadata_props if p.key != "hints"]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    broken = tmp_path / "guided_without_hints.onnx"
    onnx.save(model, str(broken))
    with pytest.raises(ColorizeError, match="needs a hint contract"):
        Colorizer(broken, threads=1)

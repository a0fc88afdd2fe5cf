"""Property test: Colorizer.colorize on any shape (1..3000 px a side), dtype (uint8, uint16) and channel count
(gray, BGR, BGRA) returns the same size and dtype, BGR or BGRA, with the alpha untouched."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from colorize_runtime import Colorizer


@pytest.fixture(scope="module")
def colorizer(pointwise_onnx):
    return Colorizer(pointwise_onnx, providers="cpu")


@settings(max_examples=12, deadline=None)
@given(height=st.integers(1, 3000), width=st.integers(1, 3000), dtype=st.sampled_from([np.uint8, np.uint16]),
       channels=st.sampled_from([1, 3, 4]), seed=st.integers(0, 2**32 - 1))
def test_any_shape_dtype_and_channel_count(colorizer, height, width, dtype, channels, seed):
    shape = (height, width) if channels == 1 else (height, width, channels)
    image = np.random.default_rng(seed).integers(0, np.iinfo(dtype).max, shape, dtype=dtype, endpoint=True)
    result = colorizer.colorize(image)
    assert result.shape == (height, width, 4 if channels == 4 else 3)
    assert result.dtype == dtype
    if channels == 4:
        np.testing.assert_array_equal(result[..., 3], image[..., 3])

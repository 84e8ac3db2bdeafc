"""The number predicates every reader of files from elsewhere shares (lava_vision.json_types): JSON's
true / false must never pass as 1 / 0, and NaN or an infinity only where a reader allows them."""
import math

import numpy as np
import pytest

from lava_vision.json_types import JsonFileError, is_int, is_number, read_json_object


@pytest.mark.parametrize("value, integer, finite_number, any_number", [
    (0, True, True, True), (-3, True, True, True), (2**70, True, True, True),
    (True, False, False, False), (False, False, False, False),
    (1.0, False, True, True), (-0.5, False, True, True),
    (math.nan, False, False, True), (math.inf, False, False, True), (-math.inf, False, False, True),
    ("1", False, False, False), (None, False, False, False), ([1], False, False, False),
    (np.float32(1.0), False, False, False), (1j, False, False, False),
])
def test_is_int_and_is_number(value, integer, finite_number, any_number):
    assert is_int(value) is integer
    assert is_number(value) is finite_number
    assert is_number(value, finite=False) is any_number


def test_read_json_object_names_the_file_and_what_it_should_be(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"a": [1, 2]}')
    assert read_json_object(path, "a record") == {"a": [1, 2]}
    path.write_text("[1, 2]")
    with pytest.raises(JsonFileError, match=f"^{path}: not a record \\(a JSON object\\), got a JSON list$"):
        read_json_object(path, "a record")

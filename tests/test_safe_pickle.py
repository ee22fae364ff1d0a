"""The restricted unpickler: numpy payloads load, anything else is refused without running."""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from tests.real_format import write_format_a
from trainables.errors import DataError
from trainables.safe_pickle import load_npy_object, safe_load, safe_loads


class _Payload:
    """Pickles as a call of ``func(*args)``: what a malicious file would contain."""

    def __init__(self, func, *args) -> None:
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _payloads(marker: Path) -> dict[str, object]:
    import subprocess

    return {
        "os.system": _Payload(os.system, f"touch {marker}"),
        "builtins.eval": _Payload(eval, f"open({str(marker)!r}, 'w').close()"),
        "subprocess.call": _Payload(subprocess.call, ["touch", str(marker)]),
    }


CONTENT = {
    "preprocessed_eeg_data": np.arange(24, dtype=np.float64).reshape(1, 2, 3, 4),
    "ch_names": ["Pz", "Oz", "O1"],
    "times": np.linspace(-0.2, 0.1, 4),
    "scalar": np.float64(2.5),
    "int": np.int64(7),
    "strings": np.array(["a", "bc"]),
    "objects": np.array(["x", 1], dtype=object),
    "nested": {"t": (1, 2.0, None, True), "s": {1, 2}, "b": b"raw", "c": 1 + 2j},
}


def _assert_same(loaded: dict) -> None:
    assert loaded.keys() == CONTENT.keys()
    for key, value in CONTENT.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(loaded[key], value)
            assert loaded[key].dtype == value.dtype
        else:
            assert loaded[key] == value


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_numpy_payloads_round_trip_under_every_protocol(protocol: int) -> None:
    _assert_same(safe_loads(pickle.dumps(CONTENT, protocol=protocol), "mem"))


def test_npy_wrapped_dict_round_trips(tmp_path: Path) -> None:
    path = write_format_a(tmp_path / "a.npy", CONTENT)
    with open(path, "rb") as fh:
        _assert_same(load_npy_object(fh, path))


def test_numpy_1_names_are_admitted() -> None:
    data = pickle.dumps(np.arange(5.0), protocol=3).replace(b"numpy._core", b"numpy.core")
    assert b"numpy.core.multiarray" in data
    np.testing.assert_array_equal(safe_loads(data, "old"), np.arange(5.0))


@pytest.mark.parametrize("protocol", [2, 4])
@pytest.mark.parametrize("name", ["os.system", "builtins.eval", "subprocess.call"])
def test_malicious_pickle_is_refused_and_not_run(tmp_path: Path, name: str, protocol: int) -> None:
    marker = tmp_path / "pwned"
    payload = {"preprocessed_eeg_data": _payloads(marker)[name]}
    path = tmp_path / "evil.npy"
    path.write_bytes(pickle.dumps(payload, protocol=protocol))
    with pytest.raises(DataError) as err, open(path, "rb") as fh:
        safe_load(fh, path)
    message = str(err.value)
    assert str(path) in message
    assert name.split(".")[-1] in message
    assert "\n" not in message
    assert not marker.exists()


def test_malicious_payload_inside_npy_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.npy"
    with open(path, "wb") as fh:
        np.save(fh, np.array({"x": _Payload(os.system, f"touch {marker}")}), allow_pickle=True)
    with pytest.raises(DataError, match="posix.system|os.system"), open(path, "rb") as fh:
        load_npy_object(fh, path)
    assert not marker.exists()


def test_codecs_encode_only_as_latin1() -> None:
    evil = pickle.dumps(_Payload(__import__("_codecs").encode, "x", "zlib_codec"), protocol=2)
    with pytest.raises(DataError, match="damaged|not allowed"):
        safe_loads(evil, "mem")


@pytest.mark.parametrize("cut", [1, 10, 0.5, -1])
def test_truncated_pickle_is_a_data_error(cut: float) -> None:
    data = pickle.dumps(CONTENT, protocol=4)
    n = int(len(data) * cut) if isinstance(cut, float) else cut
    with pytest.raises(DataError, match="mem: .*(truncated|damaged)"):
        safe_load(io.BytesIO(data[:n]), "mem")

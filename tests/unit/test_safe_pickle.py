"""The restricted unpickler: numpy payloads load, anything else is refused without running."""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.real_format import write_format_a
from trainables.common.errors import DataError
from trainables.things_eeg2.safe_pickle import load_npy_object, safe_load, safe_loads


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


_RECONSTRUCT = np.zeros(1).__reduce__()[0]


class _ArrayWithState:
    """Pickles as ``_reconstruct(ndarray, (0,), b"b")`` then BUILD with a chosen array state."""

    def __init__(self, state: tuple) -> None:
        self.state = state

    def __reduce__(self):
        return _RECONSTRUCT, (np.ndarray, (0,), b"b"), self.state


HUGE = {
    "bytearray": _Payload(bytearray, 10**9),
    "bytes": _Payload(bytes, 10**9),
    "ndarray": _Payload(np.ndarray, (10**5, 10**5)),
    "_reconstruct": _Payload(_RECONSTRUCT, np.ndarray, (10**9,), b"d"),
    "array state": _ArrayWithState((1, (10**9,), np.dtype("f8"), False, b"")),
    "wide dtype state": _ArrayWithState((1, (1,), np.dtype(("V", 10**9)), False, b"")),
}


@pytest.mark.parametrize("protocol", [2, 4])
@pytest.mark.parametrize("what", sorted(HUGE))
def test_huge_allocation_from_a_tiny_file_is_refused_before_allocating(
    tmp_path: Path, what: str, protocol: int
) -> None:
    path = tmp_path / "tiny.pkl"
    path.write_bytes(pickle.dumps({"preprocessed_eeg_data": HUGE[what]}, protocol=protocol))
    assert path.stat().st_size < 300
    refused = f"{path}: refused to unpickle: it asks for .* bytes"
    with pytest.raises(DataError, match=refused), open(path, "rb") as fh:
        safe_load(fh, path)


def test_object_array_state_shorter_than_its_shape_is_refused_not_a_crash() -> None:
    data = pickle.dumps(_ArrayWithState((1, (1000,), np.dtype(object), False, [1])), protocol=4)
    with pytest.raises(DataError, match="mem: .*does not hold 1000 items"):
        safe_loads(data, "mem")


def test_arrays_above_the_floor_still_load_from_real_files(tmp_path: Path) -> None:
    eeg = np.arange(400_000, dtype=np.float64).reshape(4, 1, 1, -1)
    content = {"preprocessed_eeg_data": eeg}
    for protocol in (2, 3, 4, 5):
        loaded = safe_loads(pickle.dumps(content, protocol=protocol), "mem")
        np.testing.assert_array_equal(loaded["preprocessed_eeg_data"], eeg)
    path = write_format_a(tmp_path / "a.npy", content)
    with open(path, "rb") as fh:
        assert load_npy_object(fh, path)["preprocessed_eeg_data"].nbytes == 3_200_000

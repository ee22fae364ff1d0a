"""`study synth` output read back by `study check` and the trainables readers, both formats."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from study.cli import main
from study.synthetic import FORMATS, SCALES
from trainables.embedding.store import load_store
from trainables.things_eeg2.eeg_files import FORMAT_NICE, FORMAT_OSF, detect_format, read_eeg_file
from trainables.things_eeg2.images import read_images
from trainables.things_eeg2.layout import find_layout
from trainables.things_eeg2.prepared_cache import load_prepared

TINY = SCALES["tiny"]
READER_FORMAT = {"osf": FORMAT_OSF, "nice": FORMAT_NICE}


@pytest.mark.parametrize("fmt,subjects", [("osf", [1, 2]), ("nice", [3])])
def test_synth_check_and_readers_agree(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str, subjects: list[int]
) -> None:
    out = tmp_path / "twin"
    subject_arg = ",".join(str(s) for s in subjects)
    assert main(["synth", "--out", str(out), "--format", fmt, "--subjects", subject_arg]) == 0
    assert main(["check", "--data", str(out)]) == 0
    capsys.readouterr()

    layout = find_layout(out)
    assert layout.subjects == subjects
    assert layout.images_dir is not None and layout.metadata_path is not None

    images = read_images(layout.images_dir, layout.metadata_path)
    assert "folders" in images.source and "image_metadata.npy" in images.source
    assert len(images.train) == TINY.n_train and len(images.test) == TINY.n_test
    assert images.train.n_concepts == TINY.n_train_concepts
    for backbone in ("synclr", "aligned_synclr"):
        load_store(layout.embeddings_dir, backbone, expected_hashes=images.hashes())

    spec = FORMATS[fmt]
    for split, n, reps in (("train", TINY.n_train, 4), ("test", TINY.n_test, 80)):
        path = layout.eeg_file(subjects[0], split)
        assert detect_format(path) == READER_FORMAT[fmt]
        recording = read_eeg_file(path)
        assert recording.shape == (n, reps, len(spec.ch_names), spec.n_samples)
        assert recording.ch_names == list(spec.ch_names)
        assert recording.sfreq == pytest.approx(spec.sfreq)
        prepared = load_prepared(path, tmp_path / "cache")
        assert prepared.mean.dtype == np.float32 and prepared.mean.shape[0] == n
        assert np.allclose(prepared.mean, recording.data.mean(axis=1), atol=1e-5)

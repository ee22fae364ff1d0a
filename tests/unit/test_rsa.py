"""RSA (decoder-free control): RDMs, Spearman RSA and the noise ceiling against a direct scipy
computation, the twin's aligned > unaligned ordering, the report section, bad inputs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.distance import pdist
from scipy.stats import pearsonr, rankdata, spearmanr

from reports.rsa import FIGURE, rsa_section
from study.cli import main
from tests.helpers.rsa_twin import LATENT, PAIRS, WINDOWED, check_twin_ordering, rsa_twin
from trainables.analysis.rsa import (
    RsaSettings,
    make_windows,
    noise_ceiling,
    rank_rdms,
    rdms,
    spearman,
)
from trainables.analysis.rsa_run import run_rsa
from trainables.common.errors import ConfigError, DataError
from trainables.things_eeg2.eeg_files import read_eeg_file


@pytest.fixture(scope="module")
def twin_rsa(synth_twin: Callable[..., Path], tmp_path_factory: pytest.TempPathFactory):
    """(root, cache, result) of the RSA twin of seed 0 with 50 ms windows every 20 ms."""
    root = rsa_twin(synth_twin, 0)
    cache = tmp_path_factory.mktemp("rsa-cache")
    backbones = [b for pair in PAIRS for b in pair] + [LATENT]
    return root, cache, run_rsa(root, backbones, WINDOWED, cache_dir=cache)


def test_rdms_match_pdist() -> None:
    rng = np.random.default_rng(0)
    patterns = rng.standard_normal((3, 12, 7)) + rng.standard_normal((3, 12, 1))
    for distance in ("correlation", "cosine"):
        ours = rdms(patterns, distance)
        assert ours.shape == (3, 66)
        for i in range(3):
            np.testing.assert_allclose(ours[i], pdist(patterns[i], distance), atol=1e-12)


def test_undefined_distance_is_nan() -> None:
    patterns = np.array([[1.0, 1.0, 1.0], [1.0, 2.0, 3.0], [3.0, 1.0, 2.0], [0.0, 0.0, 1.0]])
    assert np.isnan(rdms(patterns, "correlation")[:3]).all()  # row 0 is constant
    assert np.isfinite(rdms(patterns, "cosine")).all()


def test_spearman_matches_scipy_with_ties() -> None:
    rng = np.random.default_rng(1)
    model = rng.integers(0, 5, 30).astype(float)  # many ties
    data = rng.standard_normal((4, 30))
    data[1, :10] = data[1, 10:20]  # one data row with ties too
    expected = [spearmanr(model, row).statistic for row in data]
    np.testing.assert_allclose(spearman(model, data), expected, atol=1e-12)
    np.testing.assert_array_equal(rank_rdms(data), rankdata(data, axis=-1))
    many_ties = rng.integers(0, 6, (5, 3, 40)).astype(float)
    np.testing.assert_array_equal(rank_rdms(many_ties), rankdata(many_ties, axis=-1))


def test_windows_in_samples() -> None:
    times = -0.2 + np.arange(100) / 100
    w = make_windows(times, 100.0, RsaSettings(window_s=0.05, step_s=0.02))
    assert (w.width, w.step, len(w)) == (5, 2, 48)
    np.testing.assert_allclose(w.centre_s, [times[s : s + 5].mean() for s in range(0, 96, 2)])
    assert w.start_s[-1] == times[94] and w.end_s[-1] == times[98]
    one = make_windows(times, 100.0, RsaSettings(window_s=1.0, step_s=1e308))
    assert (one.width, len(one)) == (100, 1)
    single = make_windows(times, 100.0, RsaSettings())
    assert (single.width, single.step, len(single)) == (1, 1, 100)
    np.testing.assert_allclose(single.centre_s, times)


def test_rsa_equals_direct_scipy_computation_on_the_twin(twin: Path, tmp_path: Path) -> None:
    backbones = ["synclr", "aligned_synclr"]
    result = run_rsa(twin, backbones, WINDOWED, cache_dir=tmp_path)
    eeg = {}
    for s in (1, 2):
        recording = read_eeg_file(twin / "eeg" / f"sub-0{s}" / "preprocessed_eeg_test.npy")
        eeg[s] = recording.data.mean(axis=1, dtype=np.float64).astype(np.float32)
    n_images, _, n_times = eeg[1].shape
    starts = list(range(0, n_times - 5 + 1, 2))
    assert result.subjects == [1, 2] and len(result.windows) == len(starts)
    subject_rdms = {
        s: [pdist(x[:, :, t : t + 5].reshape(n_images, -1).astype(np.float64), "correlation")
            for t in starts]
        for s, x in eeg.items()
    }  # fmt: skip
    for backbone in backbones:
        embeddings = np.load(twin / "embeddings" / backbone / "test.npy").astype(np.float64)
        image_rdm = pdist(embeddings, "correlation")
        expected = [[spearmanr(image_rdm, d).statistic for d in subject_rdms[s]] for s in (1, 2)]
        np.testing.assert_allclose(result.rsa[backbone], expected, atol=1e-9)
    for w in range(len(starts)):
        ranks = {s: rankdata(subject_rdms[s][w]) for s in (1, 2)}
        both = (ranks[1] + ranks[2]) / 2
        upper = np.mean([pearsonr(ranks[s], both).statistic for s in (1, 2)])
        lower = np.mean([spearmanr(subject_rdms[s][w], ranks[3 - s]).statistic for s in (1, 2)])
        assert result.ceiling.upper[w] == pytest.approx(upper, abs=1e-9)
        assert result.ceiling.lower[w] == pytest.approx(lower, abs=1e-9)


def test_cosine_distances_match_scipy(twin: Path, tmp_path: Path) -> None:
    cosine = RsaSettings(image_distance="cosine", eeg_distance="cosine")
    result = run_rsa(twin, ["synclr"], cosine, subjects=[2], cache_dir=tmp_path)
    x = read_eeg_file(twin / "eeg" / "sub-02" / "preprocessed_eeg_test.npy").data
    x = x.mean(axis=1, dtype=np.float64).astype(np.float32).astype(np.float64)
    image_rdm = pdist(np.load(twin / "embeddings" / "synclr" / "test.npy"), "cosine")
    expected = [spearmanr(image_rdm, pdist(x[:, :, t], "cosine")).statistic for t in (0, 50, 99)]
    np.testing.assert_allclose(result.rsa["synclr"][0, [0, 50, 99]], expected, atol=1e-9)
    assert result.ceiling is None  # one subject


def test_aligned_backbones_have_higher_rsa_on_the_twin(twin_rsa) -> None:
    check_twin_ordering(twin_rsa[2])


def test_noise_ceiling_bounds_the_latent_backbone(twin_rsa) -> None:
    result = twin_rsa[2]
    ceiling = result.ceiling
    assert (ceiling.upper >= ceiling.lower).all()
    assert (ceiling.upper >= result.mean(LATENT) - 1e-12).all()
    before = result.windows.centre_s < 0  # windows ending before the kernels' earliest onset
    assert ceiling.lower[~before].max() > 0.2 and ceiling.lower[before].max() < 0.15


def test_upper_bound_is_the_best_any_model_can_reach() -> None:
    rng = np.random.default_rng(2)
    shared = rng.standard_normal(45)
    subjects = shared + rng.standard_normal((5, 1, 45))
    ceiling = noise_ceiling(rank_rdms(subjects))
    best = np.mean(rankdata(subjects[:, 0], axis=-1), axis=0)  # mean ranks: the best model
    models = [shared, best, *rng.standard_normal((200, 45)) + shared]
    scores = [spearman(m, subjects[:, 0]).mean() for m in models]
    assert max(scores) <= ceiling.upper[0] + 1e-12
    assert scores[1] > ceiling.upper[0] - 0.05 and scores[1] > scores[0]
    assert ceiling.lower[0] < ceiling.upper[0]
    assert noise_ceiling(rank_rdms(subjects[:1])) is None


def test_report_section_uses_only_cached_eeg(
    twin_rsa, synth_twin: Callable[..., Path], tmp_path: Path
) -> None:
    root, cache, result = twin_rsa
    assert rsa_section(root, ["synclr"], tmp_path / "none", cache_dir=tmp_path / "empty") is None
    out = tmp_path / "report"
    section = rsa_section(root, ["synclr", "aligned_synclr"], out, cache_dir=cache)
    assert section.figure == out / "figures" / FIGURE and section.figure.stat().st_size > 0
    assert "SYNTHETIC DATA" in section.markdown and f"({FIGURE.join(['figures/', ''])})" in (
        section.markdown
    )
    peaks, paired = section.tables
    assert [row[0] for row in peaks.rows] == ["synclr", "aligned_synclr"]
    assert paired.rows[0][:3] == ["aligned_synclr", "synclr", 3]
    assert rsa_section(root, ["missing"], tmp_path / "x", cache_dir=cache) is None


def test_cli_writes_outputs_and_prints_peaks(twin_rsa, tmp_path: Path, capsys) -> None:
    root, cache, _ = twin_rsa
    args = ["rsa", "--data", str(root), "--backbones", "synclr,aligned_synclr"]
    args += ["--subjects", "1-2", "--window", "0.05", "--step", "0.02"]
    assert main([*args, "--cache-dir", str(cache), "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "| aligned_synclr | 2 |" in out and "SYNTHETIC DATA" in out
    record = json.loads((tmp_path / "o" / "rsa.json").read_text())
    assert record["subjects"] == [1, 2] and record["windows"]["width_samples"] == 5
    rsa = np.array(record["backbones"]["synclr"]["rsa"])
    assert rsa.shape == (2, 48)
    lines = (tmp_path / "o" / "rsa.csv").read_text().splitlines()
    assert lines[0] == "backbone,subject,window_start_s,window_end_s,time_s,rsa"
    assert len(lines) == 1 + 2 * 2 * 48
    assert (tmp_path / "o" / "rsa_noise_ceiling.csv").is_file()
    assert (tmp_path / "o" / FIGURE).is_file()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--backbones", "nosuch"], "no embedding store for backbone 'nosuch'"),
        (["--backbones", "synclr", "--window", "2"], "--window 2 s is longer than the epoch"),
        (["--backbones", "synclr", "--window", "1e308"], "longer than the epoch (100 samples"),
        (["--backbones", "synclr", "--window", "-1"], "--window must be > 0"),
        (["--backbones", "synclr", "--subjects", "7"], "expected subjects 7"),
        (["--backbones", "synclr,synclr"], "backbones listed twice"),
    ],
)
def test_bad_inputs_are_one_line(twin: Path, tmp_path: Path, capsys, extra, message) -> None:
    args = ["rsa", "--data", str(twin), "--cache-dir", str(tmp_path), "--out", str(tmp_path)]
    assert main([*args, *extra]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "preparing" not in line]
    assert len(errors) == 1 and errors[0].startswith("error: ") and message in errors[0]


def test_store_for_other_images_is_refused(
    twin: Path, synth_twin: Callable[..., Path], tmp_path: Path
) -> None:
    other = synth_twin(scale="tiny", images=False, seed=1, backbones=["synclr"])
    with pytest.raises(DataError, match="computed for a different test image list"):
        run_rsa(twin, ["synclr"], RsaSettings(), embeddings_dir=other / "embeddings")


def test_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="--step must be > 0"):
        RsaSettings(step_s=0.0)
    with pytest.raises(ConfigError, match="--image-distance must be one of"):
        RsaSettings(image_distance="euclidean")

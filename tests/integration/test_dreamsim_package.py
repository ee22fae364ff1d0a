"""The backbone registry against the installed dreamsim package (importing it takes 10-25 s)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from study.cli import main
from tests.helpers.model_files import touch_required
from trainables.embedding.backbones import BACKBONES, DREAMSIM_TYPES


def test_registry_mirrors_dreamsim_config() -> None:
    from dreamsim.config import dreamsim_args
    from dreamsim.model import EMBED_DIMS

    for name, t in DREAMSIM_TYPES.items():
        assert dreamsim_args["model_config"][name] == t.model_config
        parts = zip(t.model_type.split(","), t.feat_type.split(","), strict=True)
        assert sum(EMBED_DIMS[m][f] for m, f in parts) == t.dim


@pytest.mark.parametrize("dreamsim_type", sorted(DREAMSIM_TYPES))
def test_required_files_satisfy_dreamsims_download_check(
    dreamsim_type: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch.hub
    from dreamsim.model import download_weights

    def no_download(*args: object, **kwargs: object) -> None:
        raise AssertionError("dreamsim tried to download")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    name = next(
        b.name for b in BACKBONES.values() if b.aligned and b.dreamsim_type.name == dreamsim_type
    )
    touch_required(name, tmp_path)
    download_weights(str(tmp_path), dreamsim_type)  # all present: no download attempted
    (tmp_path / DREAMSIM_TYPES[dreamsim_type].release_files[0]).unlink()
    with pytest.raises(AssertionError, match="tried to download"):
        download_weights(str(tmp_path), dreamsim_type)


def test_download_models_offline_is_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def blocked(*args: object) -> None:
        raise OSError("network blocked in this test")

    monkeypatch.setattr(socket.socket, "connect", blocked)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    argv = ["download-models", "--backbones", "clip", "--models-dir", str(tmp_path / "m")]
    assert main(argv) == 2
    *logged, err = capsys.readouterr().err.strip().splitlines()
    assert logged == [f"clip_vitb32: fetching into {tmp_path / 'm'}"]  # progress, logged
    assert err.startswith("error: ") and "cannot download clip_vitb32" in err

"""The training loop of one trial: same function with or without Ray.

The prepared arrays go to the device once; each epoch's batches are index slices of a seeded
permutation of all (subject, image) training pairs (the last incomplete batch is dropped, so every
step sees ``batch_size`` pairs). With k-of-n repetition draws (``data.train_repetitions``), each
epoch first builds the pairs' EEG as means of k repetitions drawn per pair (repetitions.py).
Two Adam parameter groups (encoder; projectors + temperature), each with linear warmup then
cosine annealing, stepped once per epoch.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trainables.common.atomic import save_npy_atomic
from trainables.common.errors import ConfigError, DataError, TrainingDiverged
from trainables.models.head import ContrastiveModel, build_model
from trainables.models.loss import clamp_logit_scale_, info_nce
from trainables.models.metrics import per_subject_top1, retrieval_metrics
from trainables.things_eeg2.decoding_data import DecodingData, EvalSplit
from trainables.training.checkpoints import (
    TEST_SIMILARITY_FILE,
    check_resume_config,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from trainables.training.config import TrainConfig
from trainables.training.cpu_memory import retain_freed_memory
from trainables.training.repetitions import RepetitionSampler
from trainables.training.schedules import build_optimization

Reporter = Callable[[dict[str, float], Path | None], None]
EVAL_CHUNK = 4096


@dataclass
class TrainResult:
    """What a finished run returns: per-epoch history, last metrics and where it checkpointed."""

    config: dict[str, Any]
    model: str
    history: list[dict[str, float]]
    checkpoint: Path | None
    test_per_subject_top1: list[float] | None = None
    test_similarity: np.ndarray | None = None  # float32 (subjects, test EEG, test images) cosine

    @property
    def final(self) -> dict[str, float]:
        return self.history[-1] if self.history else {}


def resolve_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device=cuda but no CUDA device is available")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _autocast(device: torch.device, bf16: bool) -> contextlib.AbstractContextManager[Any]:
    if device.type == "cuda" and bf16:
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _chunks(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


def shared_tensor(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """float32 tensor on ``device``; on the CPU a zero-copy view of the (often read-only,
    memory-mapped or object-store) array, which training only reads, never writes."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.as_tensor(array, dtype=torch.float32, device=device)


def device_split(split: EvalSplit, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """A split's EEG (subjects, images, channels, times) and gallery embeddings on ``device``."""
    return shared_tensor(split.eeg, device), shared_tensor(split.embeddings, device)


@torch.no_grad()
def encode_split(
    model: ContrastiveModel, eeg: torch.Tensor, embeddings: torch.Tensor, bf16: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Latents of every subject's EEG (subjects, images, latent) and of the gallery."""
    model.eval()
    flat = eeg.reshape(-1, *eeg.shape[2:])
    with _autocast(eeg.device, bf16):
        z_eeg = torch.cat(
            [model.encode_eeg(flat[s]).float() for s in _chunks(len(flat), EVAL_CHUNK)]
        )
        z_img = model.encode_images(embeddings).float()
    return z_eeg.reshape(eeg.shape[0], eeg.shape[1], -1), z_img


def evaluate(
    model: ContrastiveModel, eeg: torch.Tensor, embeddings: torch.Tensor, prefix: str, bf16: bool
) -> dict[str, float]:
    z_eeg, z_img = encode_split(model, eeg, embeddings, bf16)
    return retrieval_metrics(z_eeg, z_img, model.logit_scale.detach(), prefix)


def _check_finite(metrics: dict[str, float]) -> None:
    """Stop a diverged run: a NaN/infinite loss or metric must never be reported as a result."""
    bad = sorted(k for k, v in metrics.items() if not math.isfinite(v))
    if bad:
        epoch = int(metrics["epoch"])
        raise TrainingDiverged(
            f"training diverged at epoch {epoch}: {', '.join(bad)} not finite "
            f"(e.g. too high a learning rate); the run stops as failed"
        )


def _pairs(split: EvalSplit, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    eeg, embeddings = device_split(split, device)
    return eeg.reshape(-1, *eeg.shape[2:]), embeddings


def _sampler(data: DecodingData, seed: int, device: torch.device) -> RepetitionSampler | None:
    """k-of-n repetition draws when ``data`` asks for them (its repetitions moved once)."""
    if data.train_repetitions is None or data.train.repetitions is None:
        return None
    return RepetitionSampler(
        shared_tensor(data.train.repetitions, device), data.train_repetitions, seed
    )


def train(
    config: TrainConfig,
    data: DecodingData,
    report: Reporter | None = None,
    checkpoint_dir: Path | None = None,
    resume_from: Path | None = None,
    evaluate_test: bool = False,
) -> TrainResult:
    """Train one model; call ``report(metrics, checkpoint_or_None)`` after every epoch.

    Checkpoints go to ``checkpoint_dir/epoch_NNNN`` every ``checkpoint_every`` epochs and after
    the last one (when ``checkpoint_dir`` is given). The test split is evaluated once, after
    the last epoch, only when ``evaluate_test`` is set; then, if the test split holds a single
    subject, the last checkpoint also gets ``test_similarity.npy``: the float32 (test EEG x test
    image) cosine similarity of the latents.
    """
    if evaluate_test and data.test is None:
        raise ConfigError("evaluate_test needs data with a test split")
    device = resolve_device(config.device)
    if device.type == "cpu":
        retain_freed_memory()
    torch.manual_seed(config.seed)
    model = build_model(
        config.model,
        n_channels=data.n_channels,
        n_times=data.n_times,
        sfreq=data.sfreq,
        embedding_dim=data.embedding_dim,
        latent_dim=config.latent_dim,
        dropout=config.dropout,
        temperature_init=config.temperature_init,
        settings=config.encoder_settings(config.model),
    ).to(device)
    optimizer, scheduler = build_optimization(model, config)
    generator = torch.Generator().manual_seed(config.seed)
    history: list[dict[str, float]] = []
    start = 0
    if resume_from is not None:
        state = load_checkpoint(resume_from)
        check_resume_config(state["config"], config, Path(resume_from))
        try:
            model.load_state_dict(state["model"], strict=True)
        except RuntimeError as exc:
            raise DataError(
                f"{resume_from}: checkpoint does not fit this model (written by another version "
                f"or architecture?): {' '.join(str(exc).split())}"
            ) from exc
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"], generator)
        start, history = int(state["epoch"]), list(state["history"])

    sampler = _sampler(data, config.seed, device)
    if sampler is None:
        eeg, embeddings = _pairs(data.train, device)
    else:  # each epoch's EEG is drawn at its start
        embeddings = shared_tensor(data.train.embeddings, device)
    val = device_split(data.val, device) if data.val is not None else None  # moved once
    n_images = embeddings.shape[0]
    n_pairs = data.train.eeg.shape[0] * n_images
    batch = min(config.batch_size, n_pairs)
    n_batches = n_pairs // batch
    pooled = data.train.eeg.shape[0] > 1  # two rows of a batch may show the same image
    step_model = torch.compile(model) if config.compile else model
    checkpoint = None
    test_top1 = None
    similarity = None
    for epoch in range(start, config.epochs):
        model.train()
        if sampler is not None:
            eeg = sampler.epoch_eeg(epoch)
        perm = torch.randperm(n_pairs, generator=generator).to(device)
        total = torch.zeros((), device=device)
        for b in range(n_batches):
            idx = perm[b * batch : (b + 1) * batch]
            image_ids = idx % n_images
            with _autocast(device, config.bf16):
                z_eeg, z_img = step_model(eeg[idx], embeddings[image_ids])
                loss = info_nce(z_eeg, z_img, model.logit_scale, image_ids if pooled else None)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            clamp_logit_scale_(model.logit_scale)
            total += loss.detach()
        metrics = {
            "epoch": float(epoch + 1),
            "train_loss": float(total / n_batches),
            "temperature": float(model.logit_scale.detach().exp().reciprocal()),
            "lr_encoder": optimizer.param_groups[0]["lr"],
            "lr_projector": optimizer.param_groups[1]["lr"],
        }
        scheduler.step()
        if val is not None:
            metrics.update(evaluate(model, *val, "val", config.bf16))
        last = epoch + 1 == config.epochs
        if last and evaluate_test:
            z_eeg, z_img = encode_split(model, *device_split(data.test, device), config.bf16)
            metrics.update(retrieval_metrics(z_eeg, z_img, model.logit_scale.detach(), "test"))
            test_top1 = per_subject_top1(z_eeg, z_img)
            similarity = (z_eeg @ z_img.T).cpu().numpy().astype(np.float32)
        _check_finite(metrics)
        history.append(metrics)
        checkpoint = None
        if checkpoint_dir is not None and (last or (epoch + 1) % config.checkpoint_every == 0):
            state = {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": rng_state(generator),
                "epoch": epoch + 1,
                "config": config.to_dict(),
                "history": history,
            }
            checkpoint = save_checkpoint(Path(checkpoint_dir) / f"epoch_{epoch + 1:04d}", state)
            if last and similarity is not None and similarity.shape[0] == 1:
                save_npy_atomic(checkpoint / TEST_SIMILARITY_FILE, similarity[0])
        if report is not None:
            report(metrics, checkpoint)
    return TrainResult(
        config=config.to_dict(),
        model=model.encoder.spec.name,
        history=history,
        checkpoint=checkpoint,
        test_per_subject_top1=test_top1,
        test_similarity=similarity,
    )

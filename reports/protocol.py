"""The protocol block: every setting behind the report's numbers, and the synthetic-data banner."""

from __future__ import annotations

from typing import Any

from reports.tables import Table
from study.results import StudyResults, data_roots, format_label

NOT_RECORDED = "not recorded"


def synthetic_banner(results: StudyResults) -> str | None:
    """A loud one-line warning when the study's data root is a `study synth` twin."""
    manifest = results.synthetic
    if manifest is None:
        return None
    scale = manifest.get("scale")
    scale_name = scale.get("name") if isinstance(scale, dict) else scale
    details = ", ".join(
        f"{label} {value}"
        for label, value in (
            ("generator version", manifest.get("generator_version")),
            ("seed", manifest.get("seed")),
            ("scale", scale_name),
        )
        if value is not None
    )
    return (
        f"SYNTHETIC DATA: these numbers come from the synthetic twin of THINGS-EEG2 written by "
        f"`study synth` ({details or 'manifest unreadable'}), not from recorded EEG; they test "
        "the pipeline and say nothing about brains or image models."
    )


def _sfreq_from_times(n_times: Any, times_s: Any) -> float | None:
    if not isinstance(times_s, list) or len(times_s) != 2 or not n_times or n_times < 2:
        return None
    span = float(times_s[1]) - float(times_s[0])
    return (int(n_times) - 1) / span if span > 0 else None


def _roots_text(results: StudyResults) -> str:
    """The data root; the sweep's and the final's when the final used another one."""
    roots = data_roots(results.spec, results.final)
    if len(roots) == 2:
        return f"{roots[0]} (sweep); {roots[1]} (final runs)"
    return roots[0] if roots else NOT_RECORDED


def _data_items(results: StudyResults) -> list[tuple[str, str]]:
    final_data = results.final.data if results.final is not None else {}
    eeg = results.tuning_eeg
    synthetic = results.synthetic or {}
    fmt = final_data.get("release_format") or eeg.format or synthetic.get("format")
    channels = eeg.channels
    n_channels = final_data.get("n_channels") or (len(channels) if channels else None)
    channel_text = NOT_RECORDED
    if n_channels:
        channel_text = f"{n_channels}" + (f": {' '.join(channels)}" if channels else "")
    sfreq = eeg.sfreq or _sfreq_from_times(final_data.get("n_times"), final_data.get("times_s"))
    times = eeg.times_s or final_data.get("times_s")
    sampling = NOT_RECORDED
    if sfreq:
        sampling = f"{float(sfreq):g} Hz"
        if times:
            sampling += f", {float(times[0]):.3f} to {float(times[-1]):.3f} s"
    train_reps = final_data.get("train_repetitions_averaged") or eeg.train_repetitions
    test_reps = final_data.get("test_repetitions_averaged")
    test_text = (
        f"mean of {test_reps} repetitions per image" if test_reps else "not used (no final runs)"
    )
    averaging = (
        f"training EEG: mean of {train_reps or '?'} repetitions per image; test EEG: {test_text}"
    )
    return [
        ("data root", _roots_text(results)),
        ("data release/format", format_label(fmt) if fmt else NOT_RECORDED),
        ("channels", channel_text),
        ("sampling rate", sampling),
        ("repetition averaging", averaging),
    ]


def _split_items(results: StudyResults) -> list[tuple[str, str]]:
    data = results.spec.data
    count = data.val_count if data.val_count is not None else "default (200/1654 scaled)"
    final = results.final
    gallery = final.data.get("test_gallery") if final is not None else None
    return [
        ("tuning subjects", ", ".join(f"sub-{s:02d}" for s in data.tune_subjects)),
        (
            "validation split",
            f"held-out training {data.val_kind} (seed {data.val_seed}, count {count}); "
            "the test split is not used for selection",
        ),
        ("test gallery", gallery or "not used (no final runs)"),
    ]


def _sweep_items(results: StudyResults) -> list[tuple[str, str]]:
    sweep = results.spec.sweep
    scheduler = (
        f"ASHA (grace {sweep.grace_period}, reduction factor {sweep.reduction_factor})"
        if sweep.scheduler == "asha"
        else "none (every trial runs all epochs)"
    )
    items = [
        ("objective", f"{sweep.objective} ({sweep.mode}) on the validation split"),
        (
            "budget",
            f"{sweep.num_samples} trials per backbone, up to {sweep.max_epochs} epochs each, "
            f"sampler seed {sweep.seed}, scheduler {scheduler}",
        ),
    ]
    for backbone in results.spec.backbones:
        space = results.spec.spaces.get(backbone, {})
        items.append((f"search space ({backbone})", describe_space(space)))
    return items


def describe_space(space: dict[str, Any]) -> str:
    """One line per resolved space: each tuned field's distribution and the fixed values."""
    if not space:
        return NOT_RECORDED
    parts = []
    for name, spec in sorted(space.get("params", {}).items()):
        kind = spec.get("type", "?")
        if "choices" in spec:
            parts.append(f"{name} {kind} {spec['choices']}")
        else:
            parts.append(f"{name} {kind} [{spec.get('low')}, {spec.get('high')}]")
    for name, value in sorted(space.get("fixed", {}).items()):
        parts.append(f"{name} = {value}")
    return f"{space.get('name', '?')}: " + "; ".join(parts)


def _final_items(results: StudyResults) -> list[tuple[str, str]]:
    final = results.final
    if final is None:
        return [("final training", "none yet (sweep results only)")]
    epochs = ", ".join(
        f"{backbone} {config.get('epochs', '?')}" for backbone, config in final.configs.items()
    )
    incomplete = len(final.runs) - len(final.complete_runs)
    runs = f"{len(final.complete_runs)} complete" + (
        f", {incomplete} incomplete (left out)" if incomplete else ""
    )
    return [
        ("final protocol", "leave-one-subject-out" if final.protocol == "loso" else final.protocol),
        ("final subjects", ", ".join(f"sub-{s:02d}" for s in final.subjects) or NOT_RECORDED),
        ("final seeds", ", ".join(str(s) for s in final.seeds) or NOT_RECORDED),
        ("final epochs", epochs or NOT_RECORDED),
        ("final runs", runs),
    ]


def _provenance_items(label: str, provenance: dict[str, Any]) -> list[tuple[str, str]]:
    if not provenance:
        return []
    packages = provenance.get("packages") or {}
    return [
        (f"code version ({label})", str(provenance.get("code_version", NOT_RECORDED))),
        (
            f"packages ({label})",
            ", ".join(f"{name} {version}" for name, version in sorted(packages.items()))
            or NOT_RECORDED,
        ),
    ]


def protocol_table(results: StudyResults) -> Table:
    """The protocol block as a two-column table (rendered like every other table)."""
    banner = synthetic_banner(results)
    items: list[tuple[str, str]] = [("study", results.spec.name)]
    if banner:
        items.append(("data", banner))
    items += _data_items(results) + _split_items(results) + _sweep_items(results)
    items += _final_items(results)
    items += _provenance_items("sweep", results.spec.provenance)
    if results.final is not None:
        items += _provenance_items("final", results.final.provenance)
    return Table(
        key="protocol",
        title="Protocol",
        columns=["item", "value"],
        rows=[[label, value] for label, value in items],
    )

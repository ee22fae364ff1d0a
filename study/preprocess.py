"""`study preprocess`: raw THINGS-EEG2 sessions -> release-A files, per subject, resumable.

For each subject: every input file is opened and its events checked before anything is written
(bad input is one DataError naming the file, and nothing is left behind); then one session at a
time is epoched, sorted and whitened (:mod:`trainables.things_eeg2.preprocess`) and kept as plain
``.npy`` intermediates in ``OUT/sub-XX/.partial/``; then the sessions are merged (test: the
sessions' repetitions side by side, 80 in all; training: each condition's repetitions from the
two sessions that hold it, in session order, 4 in all) and streamed into
``preprocessed_eeg_{training,test}.npy`` (np.save of a dict, written atomically), followed by
``preprocessing.json`` (the provenance). A rerun skips a subject whose provenance records the same
settings and inputs, and resumes from the intermediates of an interrupted one.
"""

from __future__ import annotations

import json
import logging
import platform
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from study.synthetic.pickle_stream import LazyArray, dump_npy_object
from trainables.common.atomic import atomic_write, save_json_atomic, save_npy_atomic
from trainables.common.errors import DataError
from trainables.things_eeg2.formats import (
    CH_NAMES_KEY,
    EEG_DATA_KEY,
    EEG_FILES,
    RAW_FILES,
    RAW_REPS_PER_SESSION,
    RAW_SESSIONS,
    RAW_SESSIONS_PER_TRAIN_CONDITION,
    SUBJECT_PATTERN,
    TIMES_KEY,
    session_folder,
    subject_folder,
)
from trainables.things_eeg2.preprocess import (
    PreprocessSettings,
    describe_inputs,
    find_session_events,
    image_events,
    pick_names,
    process_session,
)
from trainables.things_eeg2.raw import raw_session_files, read_raw_session

logger = logging.getLogger(__name__)

PROVENANCE_FILE = "preprocessing.json"
PARTIAL_DIR = ".partial"
SPLITS = ("test", "train")
MERGE_CHUNK_BYTES = 64 << 20


def raw_subjects(raw_dir: Path) -> list[int]:
    """Subject numbers of the ``sub-XX`` folders under ``raw_dir``."""
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise DataError(f"{raw_dir}: expected the raw release folder (--raw), found nothing there")
    found = sorted(
        int(m.group(1))
        for p in raw_dir.iterdir()
        if p.is_dir() and (m := SUBJECT_PATTERN.match(p.name))
    )
    if not found:
        raise DataError(f"{raw_dir}: expected sub-XX folders of the raw release, found none")
    return found


@dataclass
class SubjectInput:
    """A subject's checked inputs: files and their image events by (session, split)."""

    subject: int
    files: dict[tuple[int, str], Path]
    events: dict[tuple[int, str], np.ndarray]
    ch_names: list[str]


def check_subject(raw_dir: Path, subject: int, settings: PreprocessSettings) -> SubjectInput:
    """Open every file of a subject and check its events, before anything is written."""
    files = raw_session_files(raw_dir, subject)
    events, names = {}, None
    for (session, split), path in files.items():
        raw = read_raw_session(path)
        picked = pick_names(raw, settings.channels)
        if names is None:
            names = picked
        elif picked != names:
            raise DataError(f"{path}: its channels differ from {files[1, 'test']}")
        events[session, split] = image_events(raw, find_session_events(raw), split, settings)
        del raw
    _check_across_sessions(files, events)
    assert names is not None
    return SubjectInput(subject, files, events, names)


def _check_across_sessions(
    files: dict[tuple[int, str], Path], events: dict[tuple[int, str], np.ndarray]
) -> None:
    sessions = range(1, RAW_SESSIONS + 1)
    test = [np.unique(events[s, "test"][:, 2]) for s in sessions]
    for s in sessions:
        if not np.array_equal(test[s - 1], np.arange(1, len(test[s - 1]) + 1)):
            raise DataError(f"{files[s, 'test']}: test conditions are not 1..{len(test[s - 1])}")
        if not np.array_equal(test[s - 1], test[0]):
            raise DataError(f"{files[s, 'test']}: test conditions differ from {files[1, 'test']}")
    held = np.concatenate([np.unique(events[s, "train"][:, 2]) for s in sessions])
    codes, counts = np.unique(held, return_counts=True)
    if not np.array_equal(codes, np.arange(1, len(codes) + 1)):
        missing = int(np.setdiff1d(np.arange(1, codes[-1] + 1), codes)[0])
        raise DataError(
            f"{files[1, 'train'].parent.parent}: training condition {missing} is in no session "
            f"(expected conditions 1..{codes[-1]})"
        )
    wrong = counts != RAW_SESSIONS_PER_TRAIN_CONDITION
    if wrong.any():
        raise DataError(
            f"{files[1, 'train'].parent.parent}: training condition {int(codes[wrong][0])} is in "
            f"{int(counts[wrong][0])} session(s), expected {RAW_SESSIONS_PER_TRAIN_CONDITION} "
            f"(x {RAW_REPS_PER_SESSION['train']} repetitions: 4 in all)"
        )


def _run_key(settings: PreprocessSettings, files: dict[tuple[int, str], Path]) -> dict[str, Any]:
    return {"settings": settings.as_dict(), "inputs": describe_inputs(list(files.values()))}


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def is_done(out_dir: Path, key: dict[str, Any]) -> bool:
    """True when a subject's outputs exist as its provenance records them, for this key."""
    prov = _read_json(out_dir / PROVENANCE_FILE)
    if not isinstance(prov, dict) or {k: prov.get(k) for k in key} != key:
        return False
    outputs = prov.get("outputs", {})
    for name in EEG_FILES.values():
        path = out_dir / name
        if not path.is_file() or outputs.get(name, {}).get("size") != path.stat().st_size:
            return False
    return True


def _partial_files(partial: Path, session: int, split: str) -> tuple[Path, Path]:
    stem = f"{session_folder(session)}_{split}"
    return partial / f"{stem}_data.npy", partial / f"{stem}_conditions.npy"


def _session_done(partial: Path, session: int) -> dict[str, Any] | None:
    meta = _read_json(partial / f"{session_folder(session)}.json")
    if not isinstance(meta, dict):
        return None
    ok = all(p.is_file() for s in SPLITS for p in _partial_files(partial, session, s))
    return meta if ok else None


def preprocess_subject(
    raw_dir: Path, out_root: Path, checked: SubjectInput, settings: PreprocessSettings
) -> str:
    """Preprocess one checked subject into ``out_root/sub-XX``; returns 'done' or 'skipped'."""
    subject = checked.subject
    out_dir = Path(out_root) / subject_folder(subject)
    key = _run_key(settings, checked.files)
    if is_done(out_dir, key):
        logger.info("%s: up to date (%s), skipped", subject_folder(subject), PROVENANCE_FILE)
        return "skipped"
    start = time.perf_counter()
    partial = out_dir / PARTIAL_DIR
    if _read_json(partial / "run.json") != key:
        shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True, exist_ok=True)
    save_json_atomic(partial / "run.json", key)
    sessions_meta = {}
    try:
        for session in range(1, RAW_SESSIONS + 1):
            meta = _session_done(partial, session)
            if meta is None:
                meta = _process_and_keep(checked, session, settings, partial)
            else:
                logger.info("%s %s: kept from an earlier run", subject_folder(subject),
                            session_folder(session))  # fmt: skip
            sessions_meta[session] = meta
        outputs = _merge_and_write(out_dir, partial, sessions_meta)
    except DataError:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    provenance = {
        **key,
        "subject": subject_folder(subject),
        "raw_dir": str(raw_dir),
        "versions": _versions(),
        "sessions": {session_folder(s): m["info"] for s, m in sessions_meta.items()},
        "ch_names": sessions_meta[1]["ch_names"],
        "times": sessions_meta[1]["times"],
        "outputs": outputs,
        "seconds": round(time.perf_counter() - start, 2),
    }
    save_json_atomic(out_dir / PROVENANCE_FILE, provenance)
    shutil.rmtree(partial, ignore_errors=True)
    logger.info("%s: done in %.1fs", subject_folder(subject), provenance["seconds"])
    return "done"


def _process_and_keep(
    checked: SubjectInput, session: int, settings: PreprocessSettings, partial: Path
) -> dict[str, Any]:
    start = time.perf_counter()
    raws = {split: read_raw_session(checked.files[session, split]) for split in SPLITS}
    events = {split: checked.events[session, split] for split in SPLITS}
    result = process_session(raws, events, settings)
    del raws
    for split in SPLITS:
        data_path, cond_path = _partial_files(partial, session, split)
        save_npy_atomic(data_path, result.data[split])
        save_npy_atomic(cond_path, result.conditions[split])
    meta = {
        "ch_names": result.ch_names,
        "times": [float(t) for t in result.times],
        "info": {
            **{s: {**result.info[s], "file": RAW_FILES[s]} for s in SPLITS},
            "seconds": round(time.perf_counter() - start, 2),
        },
    }
    save_json_atomic(partial / f"{session_folder(session)}.json", meta)
    logger.info(
        "%s %s: %d test + %d training epochs in %.1fs",
        subject_folder(checked.subject),
        session_folder(session),
        result.info["test"]["image_events"],
        result.info["train"]["image_events"],
        meta["info"]["seconds"],
    )
    return meta


def _merge_and_write(
    out_dir: Path, partial: Path, sessions_meta: dict[int, dict[str, Any]]
) -> dict[str, Any]:
    sessions = sorted(sessions_meta)
    ch_names = sessions_meta[sessions[0]]["ch_names"]
    times = np.asarray(sessions_meta[sessions[0]]["times"], dtype=np.float64)
    data = {s: {} for s in SPLITS}
    conds = {s: {} for s in SPLITS}
    for session in sessions:
        for split in SPLITS:
            data_path, cond_path = _partial_files(partial, session, split)
            data[split][session] = np.load(data_path, mmap_mode="r")
            conds[split][session] = np.load(cond_path)
    outputs = {}
    # Test: every session holds every condition; repetitions side by side in session order.
    n_test = len(conds["test"][sessions[0]])
    test_sources = [[(s, i) for s in sessions] for i in range(n_test)]
    # Training: condition c from the sessions holding it, in session order.
    where: dict[int, list[tuple[int, int]]] = {}
    for session in sessions:
        for row, code in enumerate(conds["train"][session]):
            where.setdefault(int(code), []).append((session, row))
    train_sources = [where[c] for c in sorted(where)]
    for split, sources in (("test", test_sources), ("train", train_sources)):
        arrays = data[split]
        one = arrays[sessions[0]]
        reps = sum(arrays[s].shape[1] for s, _ in sources[0])
        shape = (len(sources), reps, *one.shape[2:])
        per_chunk = max(1, MERGE_CHUNK_BYTES // (8 * int(np.prod(shape[1:]))))

        def chunks(sources=sources, arrays=arrays, per_chunk=per_chunk):
            for start in range(0, len(sources), per_chunk):
                yield np.stack(
                    [
                        np.concatenate([arrays[s][row] for s, row in cond], axis=0)
                        for cond in sources[start : start + per_chunk]
                    ]
                )

        payload = {
            EEG_DATA_KEY: LazyArray(shape, np.float64, chunks),
            CH_NAMES_KEY: list(ch_names),
            TIMES_KEY: times,
        }
        path = out_dir / EEG_FILES[split]

        def write(tmp: Path, payload=payload) -> None:
            with open(tmp, "wb", buffering=1 << 20) as fh:
                dump_npy_object(payload, fh)

        atomic_write(path, write)
        outputs[EEG_FILES[split]] = {"shape": list(shape), "size": path.stat().st_size}
    return outputs


def _versions() -> dict[str, str]:
    import mne
    import scipy

    return {
        "mne": mne.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "python": platform.python_version(),
    }


def preprocess(
    raw_dir: Path, out_root: Path, subjects: list[int] | None, settings: PreprocessSettings
) -> dict[int, str]:
    """Check every requested subject's inputs, then preprocess them one by one."""
    settings.validate()
    raw_dir, out_root = Path(raw_dir), Path(out_root)
    subjects = subjects or raw_subjects(raw_dir)
    checked = []
    for subject in subjects:
        logger.info("%s: checking the raw files", subject_folder(subject))
        checked.append(check_subject(raw_dir, subject, settings))
    return {c.subject: preprocess_subject(raw_dir, out_root, c, settings) for c in checked}

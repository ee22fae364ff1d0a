"""The one reader of a study folder: sweep trials, each cell's recorded sweep outcome, final
runs, the best trial, the data facts, how each sweep used its trial slots.

Used by `study status`, `study final`, `study export-best`, the sweep's recorded outcome and the
report. Nothing here starts Ray or imports torch.
"""

from study.results.best import BestTrial, best_trial, best_trials
from study.results.data_facts import EEGFacts, format_label, tuning_eeg_facts
from study.results.final_runs import (
    ANALYSIS_DIR,
    FINAL_DIR,
    FINAL_RUNS,
    FINAL_SPEC,
    FinalResults,
    FinalRun,
    load_final,
)
from study.results.slot_use import (
    RUNS_FILE,
    SlotUse,
    TrialRun,
    read_slot_uses,
    record_slot_use,
    slot_use,
    trial_runs,
)
from study.results.study_folder import (
    StudyResults,
    data_roots,
    load_study,
    read_synthetic_manifest,
    synthetic_manifest,
)
from study.results.sweep_outcome import DONE_FILE, SweepOutcome, read_outcome
from study.results.trials import FAILED, FINISHED, TrialRecord, last_checkpoint, read_trials
from study.spec import cell_key, parse_cell_key, split_cell_key
from trainables.embedding.pairing import unaligned_base

__all__ = [
    "ANALYSIS_DIR",
    "DONE_FILE",
    "SweepOutcome",
    "read_outcome",
    "RUNS_FILE",
    "SlotUse",
    "TrialRun",
    "read_slot_uses",
    "record_slot_use",
    "slot_use",
    "trial_runs",
    "FAILED",
    "FINAL_DIR",
    "FINAL_RUNS",
    "FINAL_SPEC",
    "FINISHED",
    "BestTrial",
    "EEGFacts",
    "FinalResults",
    "FinalRun",
    "StudyResults",
    "TrialRecord",
    "best_trial",
    "best_trials",
    "data_roots",
    "format_label",
    "last_checkpoint",
    "load_final",
    "load_study",
    "read_synthetic_manifest",
    "read_trials",
    "split_cell_key",
    "parse_cell_key",
    "cell_key",
    "unaligned_base",
    "synthetic_manifest",
    "tuning_eeg_facts",
]

"""THINGS-EEG2 on disk: the file and folder names, dict keys, channel lists and container markers
of the two preprocessed releases, for the readers and the synthetic writer alike.

Release A ("osf", the official OSF release) is an ``np.save``-d dict (npy magic); release B
("nice", the NICE/ATM 250 Hz release) is a raw protocol-4 pickle of a dict whose ``times`` has
more entries than the data has samples (the data keeps the last ones). Both name their files
``.npy``, so the container is told by its first bytes, never the name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

# EEG: <eeg folder>/sub-XX/<EEG_FILES[split]>, each a dict with EEG_KEYS.
SUBJECT_PATTERN = re.compile(r"^sub-(\d+)$")
EEG_FILES = {"train": "preprocessed_eeg_training.npy", "test": "preprocessed_eeg_test.npy"}
EEG_DATA_KEY = "preprocessed_eeg_data"  # float64 (images, repetitions, channels, times)
CH_NAMES_KEY = "ch_names"
TIMES_KEY = "times"  # seconds from image onset
EEG_KEYS = (EEG_DATA_KEY, CH_NAMES_KEY, TIMES_KEY)

# Containers: both releases pickle with protocol 4 (np.save does too).
NPY_MAGIC = b"\x93NUMPY"
PICKLE_PROTO = 0x80  # first byte of a pickle of protocol >= 2 (the PROTO opcode)
PICKLE_PROTOCOL = 4
FORMAT_OSF = "osf"
FORMAT_NICE = "nice"
FORMAT_LABELS = {
    FORMAT_OSF: "A (OSF release: np.save of a dict)",
    FORMAT_NICE: "B (NICE/ATM release: raw pickle of a dict)",
}

# Images: <images folder>/<IMAGE_SPLIT_FOLDERS[split]>/<concept folder>/<file>, and the metadata.
IMAGE_SPLIT_FOLDERS = {"train": "training_images", "test": "test_images"}
METADATA_FILE = "image_metadata.npy"


@dataclass(frozen=True)
class MetadataKeys:
    """The ``image_metadata.npy`` keys of one split (lists, one entry per image)."""

    concepts: str  # concept folder, e.g. "00001_aardvark"
    concepts_things: str  # the concept in THINGS numbering, e.g. "00010_aardvark"
    files: str  # file name, e.g. "aardvark_01b.jpg"


METADATA_KEYS = {
    "train": MetadataKeys("train_img_concepts", "train_img_concepts_THINGS", "train_img_files"),
    "test": MetadataKeys("test_img_concepts", "test_img_concepts_THINGS", "test_img_files"),
}

# Channels: release A keeps the 17 posterior channels (in its order); release B the 63 channels
# of the 64-channel cap without the Fz reference (in recording order).
OSF_CHANNELS = ("Pz", "P3", "P7", "O1", "Oz", "O2", "P4", "P8", "P1", "P5", "PO7", "PO3", "POz",
                "PO4", "PO8", "P6", "P2")  # fmt: skip
NICE_CHANNELS = ("Fp1", "F3", "F7", "FT9", "FC5", "FC1", "C3", "T7", "TP9", "CP5", "CP1", "Pz",
                 "P3", "P7", "O1", "Oz", "O2", "P4", "P8", "TP10", "CP6", "CP2", "Cz", "C4", "T8",
                 "FT10", "FC6", "FC2", "F4", "F8", "Fp2", "AF7", "AF3", "AFz", "F1", "F5", "FT7",
                 "FC3", "FCz", "C1", "C5", "TP7", "CP3", "P1", "P5", "PO7", "PO3", "POz", "PO4",
                 "PO8", "P6", "P2", "CPz", "CP4", "TP8", "C6", "C2", "FC4", "FT8", "F6", "F2",
                 "AF4", "AF8")  # fmt: skip
TIMES_START_S = -0.2


@dataclass(frozen=True)
class EEGFormat:
    """One preprocessed release: container, channels, and the `times` axis vs kept samples."""

    name: str
    container: str  # "npy" (np.save of a dict) or "pickle" (pickle.dump protocol 4)
    ch_names: tuple[str, ...]
    sfreq: float
    n_times_axis: int
    n_samples: int  # the data keeps the last n_samples entries of `times`

    @property
    def times(self) -> np.ndarray:
        return TIMES_START_S + np.arange(self.n_times_axis) / self.sfreq

    @property
    def sample_times(self) -> np.ndarray:
        return self.times[-self.n_samples :]


FORMATS = {
    FORMAT_OSF: EEGFormat(FORMAT_OSF, "npy", OSF_CHANNELS, 100.0, 100, 100),
    FORMAT_NICE: EEGFormat(FORMAT_NICE, "pickle", NICE_CHANNELS, 250.0, 300, 250),
}


def subject_folder(subject: int) -> str:
    """``sub-01`` for subject 1 (two digits at least, as in the releases)."""
    return f"sub-{subject:02d}"


# Raw release: <raw folder>/sub-XX/ses-0Y/<RAW_FILES[split]>, each an np.save-d dict holding
# RAW_DATA_KEY float64 (channels, samples): the EEG rows in volts and a RAW_STIM_CHANNEL row with
# the condition code at each image onset (training 1..16540, test 1..200, RAW_TARGET_CODE for the
# target trials). Each test condition is shown RAW_REPS_PER_SESSION["test"] times per session;
# each training condition in 2 of the RAW_SESSIONS sessions, RAW_REPS_PER_SESSION["train"] each.
RAW_FILES = {"train": "raw_eeg_training.npy", "test": "raw_eeg_test.npy"}
RAW_DATA_KEY = "raw_eeg_data"
RAW_CH_NAMES_KEY = "ch_names"
RAW_CH_TYPES_KEY = "ch_types"
RAW_SFREQ_KEY = "sfreq"
RAW_KEYS = (RAW_DATA_KEY, RAW_CH_NAMES_KEY, RAW_CH_TYPES_KEY, RAW_SFREQ_KEY)
RAW_OPTIONAL_KEYS = ("highpass", "lowpass")
RAW_STIM_CHANNEL = "stim"
RAW_EEG_CHANNELS = NICE_CHANNELS  # the 63 EEG rows in recording order (Fz is the reference)
RAW_SFREQ = 1000.0
RAW_TARGET_CODE = 99999
RAW_SESSIONS = 4
RAW_REPS_PER_SESSION = {"train": 2, "test": 20}
RAW_SESSIONS_PER_TRAIN_CONDITION = 2
POSTERIOR_REGEX = "^O *|^P *"  # the official pick: the 17 OSF_CHANNELS in recording order


def session_folder(session: int) -> str:
    """``ses-01`` for session 1, as in the raw release."""
    return f"ses-{session:02d}"

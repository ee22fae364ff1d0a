"""A study's specification: all that is needed to run, resume and report it, saved first."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from trainables.common.atomic import atomic_write
from trainables.common.errors import ConfigError
from trainables.common.validation import STRICT, validated
from trainables.things_eeg2.inputs import VARIANT_NAME, InputSpec

SPEC_FILE = "study.yaml"
OBJECTIVES = {"val_top1": "max", "val_loss": "min"}
SCHEDULERS = ("asha", "none")
SAMPLERS = ("tpe", "random")
VAL_KINDS = ("concepts", "images")
SEED_LIMIT = 2**32  # numpy's and Optuna's samplers take seeds in [0, 2**32)
CELL_SEPARATOR = "+"
INPUTS_SEPARATOR = "@"


@dataclass(frozen=True)
class Cell:
    """One comparison cell of a study: an EEG encoder with an image backbone (and an input
    variant, in a study with an inputs axis).

    Each cell has its own Tuner (same budget, seeds and scheduler as every other cell), folder
    ``<study>/<key>``, resolved search space and best configuration. A study without an encoders
    axis (``encoders: []``, every study written before the axis existed) has one cell per
    backbone, keyed by the backbone's name, whose encoder is the train settings' ``model``.
    """

    key: str
    encoder: str | None
    backbone: str
    inputs: str | None = None


def cell_key(encoder: str | None, backbone: str, inputs: str | None = None) -> str:
    """``[<encoder>+]<backbone>[@<inputs>]``: the parts a study's axes give its cells."""
    key = backbone if encoder is None else f"{encoder}{CELL_SEPARATOR}{backbone}"
    return key if inputs is None else f"{key}{INPUTS_SEPARATOR}{inputs}"


def split_cell_key(key: str) -> tuple[str | None, str]:
    """``(encoder, backbone)`` of a cell key (encoder None: a key without an encoder part)."""
    encoder, backbone, _ = parse_cell_key(key)
    return encoder, backbone


def parse_cell_key(key: str) -> tuple[str | None, str, str | None]:
    """``(encoder, backbone, inputs)`` of a cell key; None for the parts it does not have.

    The encoder is the part before the first ``+`` only when it names a registered encoder
    (backbones may contain ``+``: a transform), the inputs variant the part after ``@``.
    """
    from trainables.models.settings import ENCODER_NAMES

    rest, at, inputs = key.rpartition(INPUTS_SEPARATOR)
    if not (at and rest and VARIANT_NAME.match(inputs)):
        rest, inputs = key, ""
    encoder, sep, backbone = rest.partition(CELL_SEPARATOR)
    if not (sep and encoder in ENCODER_NAMES and backbone):
        encoder, backbone = None, rest
    return encoder, backbone, inputs or None


@dataclass
class SweepSettings:
    """Budget and engine settings, identical for every backbone of a study."""

    __pydantic_config__ = STRICT
    num_samples: int = 12
    max_epochs: int = 30
    scheduler: str = "asha"
    sampler: str = "tpe"
    grace_period: int = 3
    reduction_factor: int = 3
    max_concurrent: int = 2  # trials of the whole study at a time
    concurrent_cells: int = 0  # cells swept at the same time; 0: all of them
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    max_failures: int = 2
    objective: str = "val_top1"
    seed: int = 0

    @property
    def mode(self) -> str:
        return OBJECTIVES[self.objective]

    def validate(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ConfigError(
                f"objective must be one of {sorted(OBJECTIVES)}, got '{self.objective}'"
            )
        if self.sampler not in SAMPLERS:
            raise ConfigError(f"sampler must be one of {SAMPLERS}, got '{self.sampler}'")
        if self.scheduler not in SCHEDULERS:
            raise ConfigError(f"scheduler must be one of {SCHEDULERS}, got '{self.scheduler}'")
        for name in ("num_samples", "max_epochs", "grace_period", "max_concurrent"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.concurrent_cells < 0:
            raise ConfigError(
                f"concurrent_cells must be >= 0 (0: all cells at once), got {self.concurrent_cells}"
            )
        if self.reduction_factor < 2:
            raise ConfigError(f"reduction_factor must be >= 2, got {self.reduction_factor}")
        if self.scheduler == "asha" and self.grace_period > self.max_epochs:
            raise ConfigError(
                f"grace_period ({self.grace_period}) must not exceed max_epochs ({self.max_epochs})"
            )
        if self.cpus_per_trial <= 0 or self.gpus_per_trial < 0 or self.max_failures < 0:
            raise ConfigError("cpus_per_trial must be > 0; gpus_per_trial and max_failures >= 0")
        _check_seed("seed", self.seed)


@dataclass
class WandbSettings:
    """Optional Weights & Biases logging (WANDB_MODE=offline works without network)."""

    __pydantic_config__ = STRICT
    enabled: bool = False
    project: str = "aligned-eeg-study"
    entity: str | None = None
    tags: list[str] = field(default_factory=list)


@dataclass
class DataSettings:
    """Which data the sweep tunes on; the test split is never part of it."""

    __pydantic_config__ = STRICT
    root: str = ""
    tune_subjects: list[int] = field(default_factory=lambda: [1])
    val_kind: str = "concepts"
    val_seed: int = 0
    val_count: int | None = None
    cache_dir: str | None = None
    inputs: InputSpec = field(default_factory=InputSpec)  # every cell's, without an inputs axis

    def validate(self) -> None:
        if not self.root:
            raise ConfigError("no data folder given (--data DIR)")
        if self.val_kind not in VAL_KINDS:
            raise ConfigError(f"val_kind must be one of {VAL_KINDS}, got '{self.val_kind}'")
        if not self.tune_subjects:
            raise ConfigError("tune_subjects must name at least one subject")
        if self.val_count is not None and self.val_count < 1:
            raise ConfigError(f"val_count must be >= 1, got {self.val_count}")
        _check_seed("val_seed", self.val_seed)


@dataclass
class ValidationFacts:
    """How the validation split carved from the training images came out."""

    __pydantic_config__ = STRICT
    kind: str
    seed: int
    n_train_images: int
    n_val_images: int


@dataclass
class DataProtocol:
    """The tuning data as the study first read it; recorded at creation so reports never reopen it.

    EEG facts are those of the first tuning subject's training file (every tuning subject must
    share them); ``synthetic`` is the data root's synthetic.json (without its file list) or None.
    """

    __pydantic_config__ = STRICT
    release_format: str
    channels: list[str]
    sfreq: float
    n_times: int
    times_s: list[float]
    train_repetitions_averaged: int
    validation: ValidationFacts
    synthetic: dict[str, Any] | None = None
    # what each input variant (key "" without an inputs axis) reads of that EEG
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class StudySpec:
    """Saved as ``<storage>/<name>/study.yaml`` before the first trial starts."""

    __pydantic_config__ = STRICT
    name: str
    backbones: list[str]
    encoders: list[str] = field(default_factory=list)  # empty: no encoders axis (train.model)
    inputs: dict[str, InputSpec] = field(default_factory=dict)  # empty: no inputs axis
    data: DataSettings = field(default_factory=DataSettings)
    sweep: SweepSettings = field(default_factory=SweepSettings)
    space: str = "seed"
    spaces: dict[str, dict[str, Any]] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    wandb: WandbSettings = field(default_factory=WandbSettings)
    provenance: dict[str, Any] = field(default_factory=dict)
    data_protocol: DataProtocol | None = None  # None: a study saved before it was recorded

    def validate(self) -> None:
        if not self.name or "/" in self.name or self.name.startswith("."):
            raise ConfigError(f"invalid study name '{self.name}' (a plain folder name is needed)")
        if not self.backbones:
            raise ConfigError("no backbones given (--backbones LIST)")
        if len(set(self.backbones)) != len(self.backbones):
            raise ConfigError(f"backbones listed twice: {self.backbones}")
        self._validate_encoders()
        self._validate_inputs()
        self.data.validate()
        self.sweep.validate()
        self._validate_spaces()

    def _validate_encoders(self) -> None:
        from trainables.models.settings import ENCODER_NAMES

        if len(set(self.encoders)) != len(self.encoders):
            raise ConfigError(f"encoders listed twice: {self.encoders}")
        unknown = [e for e in self.encoders if e not in ENCODER_NAMES]
        if unknown:
            raise ConfigError(
                f"unknown encoder(s) {', '.join(unknown)}; choose from {', '.join(ENCODER_NAMES)}"
            )
        ambiguous = [b for b in self.backbones if b.partition(CELL_SEPARATOR)[0] in ENCODER_NAMES]
        if ambiguous:
            raise ConfigError(
                f"backbone name(s) {ambiguous} start with an encoder's name and "
                f"{CELL_SEPARATOR!r}, which a cell's name reads as an encoder and a backbone"
            )
        if self.encoders and "model" in self.train:
            raise ConfigError(
                "train.model and encoders both choose the encoder; give one of them (encoders "
                "makes each encoder a cell of the comparison)"
            )

    def _validate_inputs(self) -> None:
        bad = [name for name in self.inputs if not VARIANT_NAME.match(name)]
        if bad:
            raise ConfigError(f"input variant name(s) {bad}: use letters, digits, '_' and '-' only")
        if self.inputs and not self.data.inputs.is_default():
            raise ConfigError(
                "data.inputs and an inputs axis both set the input; give the settings in each "
                "variant of inputs instead"
            )
        marked = [b for b in self.backbones if INPUTS_SEPARATOR in b]
        if marked:
            raise ConfigError(
                f"backbone name(s) {marked} contain {INPUTS_SEPARATOR!r}, which separates the "
                "input variant in a cell's name"
            )

    def _validate_spaces(self) -> None:
        """Each saved (resolved) search space must be one (imported here: it pulls in torch)."""
        from search_spaces import SearchSpace

        for key, space in self.spaces.items():
            try:
                SearchSpace.from_dict(space)
            except ConfigError as exc:
                raise ConfigError(f"spaces.{key}: {exc}") from None

    def cells(self) -> list[Cell]:
        """The comparison cells: encoders-major, then input variants, then backbones."""
        encoders: list[str | None] = list(self.encoders) or [None]
        variants: list[str | None] = list(self.inputs) or [None]
        return [
            Cell(cell_key(e, b, i), e, b, i)
            for e in encoders
            for i in variants
            for b in self.backbones
        ]

    def inputs_of(self, cell: Cell) -> InputSpec:
        """What ``cell`` reads of the EEG: its variant's settings, or the study's data.inputs."""
        return self.data.inputs if cell.inputs is None else self.inputs[cell.inputs]

    def cell(self, key: str) -> Cell:
        """The cell stored under ``key``; an unknown key is a ConfigError listing the cells."""
        for cell in self.cells():
            if cell.key == key:
                return cell
        known = ", ".join(c.key for c in self.cells())
        raise ConfigError(f"study '{self.name}' has no cell {key!r} (cells: {known})")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Any, source: str = "study specification") -> StudySpec:
        """Type-checked (strictly: "3" is not a number); a ConfigError naming ``source`` if not."""
        return validated(cls, raw, str(source))

    def save(self, study_dir: Path) -> Path:
        path = Path(study_dir) / SPEC_FILE
        text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        atomic_write(path, lambda tmp: tmp.write_text(text))
        return path

    @classmethod
    def load(cls, study_dir: Path) -> StudySpec:
        path = Path(study_dir) / SPEC_FILE
        if not path.is_file():
            raise ConfigError(
                f"{path}: no study here (missing {SPEC_FILE}); check --name/--storage"
            )
        try:
            raw = yaml.safe_load(path.read_bytes())
        except yaml.YAMLError as exc:
            reason = " ".join(str(exc).split())
            raise ConfigError(f"{path}: unreadable study specification ({reason})") from None
        spec = cls.from_dict(raw, source=str(path))
        try:
            spec.validate()
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None
        return spec


def _check_seed(name: str, value: int) -> None:
    if not 0 <= value < SEED_LIMIT:
        raise ConfigError(f"{name} must be in [0, 2**32), got {value}")


def study_dir(storage: Path, name: str) -> Path:
    """``<storage>/<name>``; a name that is not one plain folder name is a ConfigError."""
    if (
        not name
        or name.startswith(".")
        or name != name.strip()
        or not name.isprintable()
        or any(sep in name for sep in ("/", "\\"))
    ):
        raise ConfigError(
            f"--name {name!r}: a study name must be one plain folder name under --storage "
            "(no path separators, not empty, not starting with '.')"
        )
    return Path(storage).expanduser().resolve() / name

"""`study train`: one training run without Ray; per-epoch metrics, checkpoints, TensorBoard."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from study.arguments import MAX_SUBJECT, SEED_HIGH, check_numbers
from trainables.common.errors import ConfigError, UserError

logger = logging.getLogger(__name__)
RUN_MARKER = "study-train.json"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train one NICE model (no Ray) and print per-epoch metrics",
        description=(
            "Train an EEG encoder (model=..., default auto: NICE) against one backbone's "
            "embeddings for one subject (repeat --subject to pool several). Writes checkpoints, "
            "the config and TensorBoard scalars under --out. Overrides are TrainConfig fields as "
            "key=value (an encoder's settings as ENCODER.NAME=VALUE, e.g. eegnet.F1=16)."
        ),
    )
    parser.add_argument("--data", type=Path, required=True, help="dataset root folder")
    parser.add_argument(
        "--backbone",
        required=True,
        help="embedding store name, or a study cell ENCODER+BACKBONE (its config picked from an "
        "export-best --config; the encoder set as model)",
    )
    parser.add_argument(
        "--subject", type=int, action="append", required=True, help="subject number (repeatable)"
    )
    parser.add_argument(
        "--config",
        type=Path,
        help="TrainConfig YAML/JSON, or an export-best file (--backbone picked)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("runs/train"),
        help=f"output folder: new, empty, or an earlier `study train` output (has {RUN_MARKER})",
    )
    parser.add_argument(
        "--val",
        choices=["concepts", "images", "none"],
        default="concepts",
        help="validation split carved from training (default: held-out concepts)",
    )
    parser.add_argument("--val-seed", type=int, default=0, help="seed of the validation split")
    parser.add_argument(
        "--test",
        action="store_true",
        help="evaluate the 200 test images after the last epoch (final runs only)",
    )
    parser.add_argument("--cache-dir", type=Path, help="prepared-array cache")
    parser.add_argument(
        "--inputs",
        default="default",
        metavar="SPEC",
        help="input variant: channels, window, rate, repetitions, e.g. "
        "channels:occipital/tmin:0/tmax:0.4/decimate:2/repetitions:1 (docs/inputs.md; "
        "default: the data as it is)",
    )
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides")
    parser.set_defaults(func=run)


def _earlier_output(out: Path) -> bool:
    """Empty, or what `study train` wrote before it left a marker: a readable config.yaml, a
    tensorboard/ folder and perhaps checkpoints/, nothing else."""
    from trainables.training.config import TrainConfig

    contents = {p.name: p for p in out.iterdir()}
    if not contents:
        return True
    own = {"config.yaml": Path.is_file, "tensorboard": Path.is_dir, "checkpoints": Path.is_dir}
    if not {"config.yaml", "tensorboard"} <= set(contents) or not all(
        name in own and not path.is_symlink() and own[name](path) for name, path in contents.items()
    ):
        return False
    try:
        TrainConfig.load(out / "config.yaml")
    except UserError:
        return False
    return True


def check_out_folder(out: Path) -> None:
    """Refuse an --out that exists and is neither empty nor an earlier `study train` output."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: --out exists and is not a folder")
    if out.is_dir() and not (out / RUN_MARKER).is_file() and not _earlier_output(out):
        raise ConfigError(
            f"{out}: --out is not empty and holds no {RUN_MARKER} (not a `study train` output); "
            "refusing to write into it: choose a new or empty folder"
        )


def run(args: argparse.Namespace) -> int:
    from study.final import load_train_config
    from trainables.common.atomic import save_json_atomic
    from trainables.things_eeg2.inputs import parse_input_spec
    from trainables.things_eeg2.layout import find_layout
    from trainables.things_eeg2.loader import load_decoding_data
    from trainables.training.config import TrainConfig
    from trainables.training.loop import train

    check_numbers(args, {"subject": (1, MAX_SUBJECT), "val_seed": (0, SEED_HIGH)})
    from study.spec import split_cell_key

    encoder, backbone = split_cell_key(args.backbone)
    config = load_train_config(args.config, args.backbone) if args.config else TrainConfig()
    config = config.with_overrides([f"model={encoder}"] if encoder else [])
    config = config.with_overrides(args.overrides)
    inputs = parse_input_spec(args.inputs)
    out = Path(args.out)
    check_out_folder(out)
    layout = find_layout(args.data)
    data = load_decoding_data(
        layout,
        backbone,
        args.subject,
        val_kind=None if args.val == "none" else args.val,
        val_seed=args.val_seed,
        include_test=args.test,
        cache_dir=args.cache_dir,
        inputs=inputs,
    )
    out.mkdir(parents=True, exist_ok=True)
    save_json_atomic(
        out / RUN_MARKER,
        {
            "written_by": "study train",
            "backbone": args.backbone,
            "subjects": args.subject,
            "inputs": data.protocol["inputs"],
        },
    )
    config.save(out / "config.yaml")
    logger.info(
        "training on %d images x %d subject(s), %d channels x %d samples at %g Hz",
        data.train.eeg.shape[1],
        len(data.train.subjects),
        data.n_channels,
        data.n_times,
        data.sfreq,
    )
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(str(out / "tensorboard")) as writer:

        def report(metrics: dict[str, float], checkpoint: Path | None) -> None:
            epoch = int(metrics["epoch"])
            for key, value in metrics.items():
                if key != "epoch" and "chance" not in key:
                    writer.add_scalar(key, value, epoch)
            shown = {k: v for k, v in metrics.items() if "chance" not in k and k != "epoch"}
            print(f"epoch {epoch:3d} " + " ".join(f"{k}={v:.4g}" for k, v in shown.items()))
            if checkpoint is not None:
                print(f"checkpoint {checkpoint}")

        result = train(
            config, data, report=report, checkpoint_dir=out / "checkpoints", evaluate_test=args.test
        )
    if data.val is not None:
        final = result.final
        print(
            f"final val top-1 {final['val_top1']:.4f} (chance {final['val_chance_top1']:.4f}), "
            f"top-5 {final['val_top5']:.4f} (chance {final['val_chance_top5']:.4f})"
        )
    return 0

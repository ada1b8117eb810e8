"""Command line: `python -m ich_train <command>`. Parses arguments and calls the modules."""
import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path

from .contract import DEFAULT_SIZE, DEFAULT_WINDOWS

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_WINDOWS_JSON = json.dumps([w.to_json() for w in DEFAULT_WINDOWS])


def _progress():
    try:
        from tqdm import tqdm
    except ImportError:  # e.g. the GPU machine: plain logs instead of bars
        return None
    return tqdm


def cmd_golden(args) -> int:
    from .golden import generate, missing_encoders

    missing = missing_encoders()
    if missing:
        print(f"golden: needs {', '.join(missing)} on PATH (dcmtk, Node.js)", file=sys.stderr)
        return 2
    manifest = generate(Path(args.out))
    print(f"golden: wrote {len(manifest['cases'])} cases to {args.out}")
    return 0


def cmd_reference(args) -> int:
    from .contract import windows_from_json
    from .reference import dicom_paths, write_reference_tensors

    windows = windows_from_json(json.loads(args.windows))
    index = write_reference_tensors(dicom_paths(args.files), windows, args.size, Path(args.out))
    print(f"reference: wrote {len(index)} tensors to {args.out}")
    return 0


def cmd_train(args) -> int:
    from .train import TrainConfig, train

    known = {f.name for f in fields(TrainConfig)}
    values = {k: v for k, v in vars(args).items() if k in known and v is not None}
    values["windows"] = json.loads(args.windows)
    metrics = train(TrainConfig(**values), progress=_progress())
    print(json.dumps({"roc_auc": metrics.get("roc_auc"), "weighted_log_loss": metrics.get("weighted_log_loss"),
                      "training": metrics.get("training")}, indent=2))
    return 0


def cmd_predict(args) -> int:
    from .predict import predict_to_csv

    count = predict_to_csv(Path(args.model), Path(args.labels), Path(args.images) if args.images else None,
                           Path(args.out), args.batch, args.workers, _progress())
    print(f"predict: wrote {count} rows to {args.out}")
    return 0


def cmd_eval(args) -> int:
    from .evaluate import run_eval

    metrics = run_eval(Path(args.predictions), Path(args.labels), Path(args.out), args.precision, args.recall)
    print(f"eval: {metrics['n_images']} images, any AUC {metrics['roc_auc']['any']}, "
          f"weighted log loss {metrics['weighted_log_loss']:.4f}; wrote {args.out}/metrics.json and metrics.md")
    return 0


def cmd_export(args) -> int:
    from .export import export_checkpoint

    report = export_checkpoint(Path(args.checkpoint), Path(args.out), name=args.name, version=args.version,
                               intended_use=args.intended_use, training_data=args.training_data,
                               eval_json=Path(args.eval_json) if args.eval_json else None,
                               threshold_policy=args.thresholds)
    print(json.dumps(report, indent=2))
    return 0


def cmd_quantize(args) -> int:
    from .quantize import quantize_model

    report = quantize_model(Path(args.model), Path(args.out), calibration=args.calibration, seed=args.seed,
                            mode=args.mode)
    print(json.dumps(report, indent=2))
    return 0


def cmd_synth(args) -> int:
    from .synth import write_phantom_series

    count = write_phantom_series(Path(args.out), args.series, args.slices, args.matrix, args.seed,
                                 args.bleed_probability, not args.no_mass_effect, _progress())
    print(f"synth: wrote {count} slices to {args.out} (labels.csv, stage_2_train.csv)")
    return 0


def cmd_labels(args) -> int:
    from .labels import label_folder, read_rsna_long

    labels = read_rsna_long(Path(args.rsna_csv)) if args.rsna_csv else None
    count = label_folder(Path(args.folder), Path(args.out), labels)
    print(f"labels: wrote {count} rows to {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ich_train", description="ich-triage model training tool")
    commands = parser.add_subparsers(dest="command", required=True)

    golden = commands.add_parser("golden", help="write the shared golden preprocessing fixtures")
    golden.add_argument("--out", default=str(REPO_ROOT / "test" / "fixtures" / "golden"))
    golden.set_defaults(func=cmd_golden)

    reference = commands.add_parser("reference", help="write <SOPInstanceUID>.npy reference tensors for DICOM files or folders")
    reference.add_argument("files", nargs="+", help="DICOM files or folders")
    reference.add_argument("--size", type=int, default=DEFAULT_SIZE)
    reference.add_argument("--windows", default=DEFAULT_WINDOWS_JSON, help="ich.windows JSON (default: brain, subdural, bone)")
    reference.add_argument("--out", required=True)
    reference.set_defaults(func=cmd_reference)

    train = commands.add_parser("train", help="train a model; writes checkpoint.pt, metrics.json, val_predictions.csv")
    train.add_argument("--out", required=True)
    train.add_argument("--arch", choices=["resnet50", "resnet18", "efficientnet_b0", "tiny"], default="resnet50")
    train.add_argument("--head", choices=["gap", "flatten"], default="gap", help="flatten: the paper's exact head")
    train.add_argument("--size", type=int, default=DEFAULT_SIZE)
    train.add_argument("--windows", default=DEFAULT_WINDOWS_JSON)
    train.add_argument("--pretrained", help="local torchvision state_dict for the backbone (never downloaded)")
    train.add_argument("--lr", type=float, default=1e-5)
    train.add_argument("--lr-schedule", choices=["constant", "cosine"], default="constant", dest="lr_schedule")
    train.add_argument("--batch", type=int, default=16)
    train.add_argument("--epochs", type=int, default=10)
    train.add_argument("--max-steps", type=int, dest="max_steps")
    train.add_argument("--loss-weights", type=lambda s: [float(v) for v in s.split(",")], dest="loss_weights",
                       help="comma-separated, 'any' first (default 1,2,1,1,1,1)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--workers", type=int, default=2)
    train.add_argument("--threads", type=int, help="torch CPU threads")
    train.add_argument("--device", default="auto")
    train.add_argument("--labels", help="wide labels CSV, or RSNA stage_2_train.csv with --images")
    train.add_argument("--images", help="RSNA image folder (<ID>.dcm)")
    train.add_argument("--split", choices=["patient", "image"], default="patient")
    train.add_argument("--val-fraction", type=float, default=0.1, dest="val_fraction")
    train.add_argument("--cache", help="folder for cached preprocessed tensors")
    train.add_argument("--phantoms", type=int, default=0, help="train on N phantom series rendered in memory")
    train.add_argument("--phantom-slices", type=int, default=32, dest="phantom_slices")
    train.add_argument("--phantom-matrix", type=int, default=512, dest="phantom_matrix")
    train.add_argument("--phantom-bleed-probability", type=float, default=0.5, dest="phantom_bleed_probability")
    train.add_argument("--real-backgrounds", dest="real_backgrounds",
                       help="folder of real head CT DICOM: synthetic bleeds are inserted into its slices")
    train.add_argument("--real-variants", type=int, default=2, dest="real_variants", help="draws per real slice")
    train.add_argument("--real-insert-probability", type=float, default=0.6, dest="real_insert_probability")
    train.add_argument("--no-augment", action="store_false", dest="augment", help="no random left-right flips")
    train.add_argument("--resume", help="checkpoint.pt to continue from")
    train.set_defaults(func=cmd_train)

    predict = commands.add_parser("predict", help="probabilities of a checkpoint or .onnx model on labelled DICOM slices")
    predict.add_argument("model", help="checkpoint.pt or model.onnx")
    predict.add_argument("--labels", required=True, help="wide labels CSV, or RSNA CSV with --images")
    predict.add_argument("--images")
    predict.add_argument("--out", required=True, help="predictions CSV")
    predict.add_argument("--batch", type=int, default=32)
    predict.add_argument("--workers", type=int, default=2)
    predict.set_defaults(func=cmd_predict)

    evaluate = commands.add_parser("eval", help="paper tables, AUC, log loss, curves from predictions and labels")
    evaluate.add_argument("--predictions", required=True, help="CSV: sop_instance_uid[,series_instance_uid],<6 classes>")
    evaluate.add_argument("--labels", required=True, help="wide labels CSV or RSNA long CSV")
    evaluate.add_argument("--out", required=True, help="folder for metrics.json, metrics.md, PNG curves")
    evaluate.add_argument("--precision", type=float, default=0.7, help="fixed precision for Table V")
    evaluate.add_argument("--recall", type=float, default=0.9, help="fixed recall for the recall operating points")
    evaluate.set_defaults(func=cmd_eval)

    export = commands.add_parser("export", help="ONNX with the model contract's metadata")
    export.add_argument("checkpoint")
    export.add_argument("--out", required=True)
    export.add_argument("--name", default="ich-triage")
    export.add_argument("--version", default="0.1.0")
    export.add_argument("--intended-use", default="demonstration only, not for clinical use", dest="intended_use")
    export.add_argument("--training-data", default="", dest="training_data", help="text for ich.model.training_data")
    export.add_argument("--eval-json", dest="eval_json", help="metrics.json of eval/train (thresholds, metrics)")
    export.add_argument("--thresholds", default="precision", help="precision | recall | fixed:<value>")
    export.set_defaults(func=cmd_export)

    quantize = commands.add_parser("quantize", help="int8 model: static (needs onnxruntime) or weights-only")
    quantize.add_argument("model")
    quantize.add_argument("--mode", choices=["static", "weights"], default="static")
    quantize.add_argument("--out", required=True)
    quantize.add_argument("--calibration", type=int, default=64, help="phantom slices for calibration")
    quantize.add_argument("--seed", type=int, default=7)
    quantize.set_defaults(func=cmd_quantize)

    synth = commands.add_parser("synth", help="write phantom head CT series as DICOM with labels")
    synth.add_argument("--out", required=True)
    synth.add_argument("--series", type=int, default=4)
    synth.add_argument("--slices", type=int, default=32)
    synth.add_argument("--matrix", type=int, default=512)
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--bleed-probability", type=float, default=0.5, dest="bleed_probability")
    synth.add_argument("--no-mass-effect", action="store_true", dest="no_mass_effect")
    synth.set_defaults(func=cmd_synth)

    labels = commands.add_parser("labels", help="wide labels CSV for a folder of DICOM files")
    labels.add_argument("folder")
    labels.add_argument("--out", required=True)
    labels.add_argument("--rsna-csv", dest="rsna_csv", help="take labels from an RSNA long CSV (else all 0)")
    labels.set_defaults(func=cmd_labels)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        print(f"{args.command}: error: {err}", file=sys.stderr)
        return 2

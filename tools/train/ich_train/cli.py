"""Command line: `python -m ich_train <command>`. Parses arguments and calls the modules."""
import argparse
import json
import sys
from pathlib import Path

from .contract import DEFAULT_SIZE, DEFAULT_WINDOWS


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ich_train", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    golden = commands.add_parser("golden", help="write the shared golden preprocessing fixtures")
    golden.add_argument("--out", default=str(Path(__file__).resolve().parents[3] / "test" / "fixtures" / "golden"))
    golden.set_defaults(func=cmd_golden)

    reference = commands.add_parser(
        "reference", help="write <SOPInstanceUID>.npy reference tensors for DICOM files or folders"
    )
    reference.add_argument("files", nargs="+", help="DICOM files or folders")
    reference.add_argument("--size", type=int, default=DEFAULT_SIZE)
    reference.add_argument("--windows", default=json.dumps([w.to_json() for w in DEFAULT_WINDOWS]),
                           help="ich.windows JSON (default: brain, subdural, bone)")
    reference.add_argument("--out", required=True)
    reference.set_defaults(func=cmd_reference)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)

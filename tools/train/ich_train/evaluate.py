"""`eval` command: metrics.json (schema in docs/training.md), metrics.md and PR/ROC PNGs."""
import json
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from .contract import CLASSES
from .labels import read_rsna_long
from .metrics import evaluate


def read_labels_any_format(path: Path) -> pd.DataFrame:
    """Labels indexed by sop_instance_uid from a wide CSV or an RSNA long CSV."""
    header = pd.read_csv(path, nrows=0).columns.tolist()
    if header[:2] == ["ID", "Label"]:
        return read_rsna_long(path)
    table = pd.read_csv(path, dtype={"sop_instance_uid": str, "series_instance_uid": str})
    missing = [c for c in ["sop_instance_uid"] + CLASSES if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing} (wide labels) and not an RSNA ID,Label file")
    return table.drop_duplicates("sop_instance_uid").set_index("sop_instance_uid")


def joined(predictions: pd.DataFrame, labels: pd.DataFrame):
    """(labels [N, 6], probabilities [N, 6], series ids or None) for images in both tables."""
    missing = [c for c in ["sop_instance_uid"] + CLASSES if c not in predictions.columns]
    if missing:
        raise ValueError(f"predictions lack columns {missing}")
    common = predictions[predictions["sop_instance_uid"].isin(labels.index)]
    if common.empty:
        raise ValueError("no predicted image has a label (sop_instance_uid values do not match)")
    y = labels.loc[common["sop_instance_uid"], CLASSES].to_numpy(np.float64)
    p = common[CLASSES].to_numpy(np.float64)
    if "series_instance_uid" in common.columns:
        series = common["series_instance_uid"].astype(str).tolist()
    elif "series_instance_uid" in labels.columns:
        series = labels.loc[common["sop_instance_uid"], "series_instance_uid"].astype(str).tolist()
    else:
        series = None
    return y, p, series


def run_eval(predictions_csv: Path, labels_csv: Path, out: Path, precision: float = 0.7, recall: float = 0.9) -> dict:
    predictions = pd.read_csv(predictions_csv, dtype={"sop_instance_uid": str, "series_instance_uid": str})
    y, p, series = joined(predictions, read_labels_any_format(labels_csv))
    metrics = evaluate(y, p, series, precision, recall)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    (out / "metrics.md").write_text(markdown_report(metrics))
    plot_curves(y, p, out)
    return metrics


def _f(value: Optional[float], digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def markdown_report(m: dict) -> str:
    head = "| metric | " + " | ".join(CLASSES) + " |\n|---|" + "---|" * len(CLASSES) + "\n"
    lines = [f"# Evaluation ({m['n_images']} images)\n", "## Per class at threshold 0.5 (paper Table II)\n", head]
    for key in ("accuracy", "precision", "recall"):
        lines.append(f"| {key} | " + " | ".join(_f(m["at_0_5"][c][key]) for c in CLASSES) + " |\n")
    lines.append(f"| ROC AUC | " + " | ".join(_f(m["roc_auc"][c]) for c in CLASSES) + " |\n")
    lines.append(f"| log loss | " + " | ".join(_f(m["log_loss"][c], 4) for c in CLASSES) + " |\n")
    lines.append(f"\nPer-image exact match: {_f(m['exact_match_accuracy'])}. "
                 f"RSNA weighted log loss: {_f(m['weighted_log_loss'], 4)}.\n")
    lines.append("\n## \"any\": predicted vs OR of subtypes (Table III)\n\n| metric | predicted | explicit |\n|---|---|---|\n")
    for key in ("accuracy", "recall", "precision"):
        both = m["any_predicted_vs_explicit"]
        lines.append(f"| {key} | {_f(both['predicted'][key])} | {_f(both['explicit'][key])} |\n")
    lines.append("\n## \"any\" threshold sweep (Table IV)\n\n| target precision | threshold | precision | recall | accuracy |\n|---|---|---|---|---|\n")
    for row in m["any_sweep"]:
        lines.append(f"| {row['target_precision']} | {_f(row['threshold'], 4)} | {_f(row['precision'])} | {_f(row['recall'])} | {_f(row['accuracy'])} |\n")
    for key, title in (("at_precision", "precision"), ("at_recall", "recall")):
        block = m[key]
        lines.append(f"\n## Per-class operating points at {title} {block['target']} (Table V)\n\n{head}")
        for metric in ("threshold", "precision", "recall", "accuracy"):
            lines.append(f"| {metric} | " + " | ".join(_f(block["per_class"][c].get(metric), 4) for c in CLASSES) + " |\n")
    if "series" in m:
        s = m["series"]
        lines.append(f"\n## Per series ({s['n_series']} series, probability = max over slices)\n\n{head}")
        lines.append("| ROC AUC | " + " | ".join(_f(s["roc_auc"][c]) for c in CLASSES) + " |\n")
        for key in ("precision", "recall"):
            lines.append(f"| {key} at 0.5 | " + " | ".join(_f(s["at_0_5"][c][key]) for c in CLASSES) + " |\n")
    return "".join(lines)


def plot_curves(y: np.ndarray, p: np.ndarray, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve, roc_curve

    for name, curve, axes in (("roc", roc_curve, ("false positive rate", "true positive rate")),
                              ("pr", precision_recall_curve, ("recall", "precision"))):
        fig, ax = plt.subplots(figsize=(6, 5))
        for i, cls in enumerate(CLASSES):
            if not 0 < y[:, i].sum() < len(y):
                continue
            a, b, _ = curve(y[:, i], p[:, i])
            ax.plot(*((a, b) if name == "roc" else (b, a)), label=cls)
        ax.set_xlabel(axes[0])
        ax.set_ylabel(axes[1])
        ax.legend(loc="lower right" if name == "roc" else "lower left")
        fig.tight_layout()
        fig.savefig(out / f"{name}.png", dpi=100)
        plt.close(fig)

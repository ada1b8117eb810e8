"""Evaluation metrics (pure functions on arrays). Definitions are in docs/training.md and the
node's `ich-triage eval` implements the same ones; keep both in step.

Conventions: `y` is {0,1} labels, `p` probabilities, both [N, 6] with "any" first. A slice is
predicted positive when p >= threshold. Undefined ratios (no positives, no predicted
positives) are 0, as sklearn's zero_division=0; an AUC with only one label value is None.
"""
from typing import Dict, List, Optional, Sequence

import numpy as np

from .contract import CLASSES, RSNA_LOGLOSS_WEIGHTS

LOG_LOSS_EPS = 1e-7
PRECISION_LEVELS = [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95]


def confusion(y: np.ndarray, predicted: np.ndarray) -> Dict[str, float]:
    """Counts and accuracy / precision / recall / specificity of a binary prediction."""
    y, predicted = np.asarray(y).astype(bool), np.asarray(predicted).astype(bool)
    tp = int(np.sum(y & predicted))
    fp = int(np.sum(~y & predicted))
    fn = int(np.sum(y & ~predicted))
    tn = int(np.sum(~y & ~predicted))
    return {
        "accuracy": (tp + tn) / max(len(y), 1),
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "specificity": tn / (tn + fp) if tn + fp else 0.0,
        "tp": tp, "fp": fp, "fn": fn, "tn": tn,
    }


def per_class_at(y: np.ndarray, p: np.ndarray, thresholds: Sequence[float]) -> Dict[str, dict]:
    """Table II (with thresholds 0.5): per-class confusion metrics."""
    return {cls: confusion(y[:, i], p[:, i] >= thresholds[i]) for i, cls in enumerate(CLASSES)}


def exact_match(y: np.ndarray, p: np.ndarray, threshold: float = 0.5) -> float:
    """Per-image accuracy: all six predictions right."""
    return float(np.mean(np.all((p >= threshold) == y.astype(bool), axis=1)))


def any_predicted_vs_explicit(y: np.ndarray, p: np.ndarray, threshold: float = 0.5) -> Dict[str, dict]:
    """Table III: the learned "any" output vs the OR of the five subtype predictions."""
    explicit = np.any(p[:, 1:] >= threshold, axis=1)
    return {"predicted": confusion(y[:, 0], p[:, 0] >= threshold), "explicit": confusion(y[:, 0], explicit)}


def _counts_per_threshold(y: np.ndarray, scores: np.ndarray):
    """Observed scores ascending, with tp and fp when predicting p >= each of them."""
    y = np.asarray(y).astype(bool)
    thresholds = np.unique(scores)
    positives, negatives = np.sort(scores[y]), np.sort(scores[~y])
    tp = len(positives) - np.searchsorted(positives, thresholds, side="left")
    fp = len(negatives) - np.searchsorted(negatives, thresholds, side="left")
    return thresholds, tp, fp, len(positives)


def threshold_at_precision(y: np.ndarray, scores: np.ndarray, target: float) -> Optional[float]:
    """Lowest observed score t whose precision at p >= t reaches `target` (most recall)."""
    thresholds, tp, fp, _ = _counts_per_threshold(y, scores)
    precision = np.divide(tp, tp + fp, out=np.zeros(len(tp)), where=(tp + fp) > 0)
    hits = np.nonzero(precision >= target)[0]
    return float(thresholds[hits[0]]) if len(hits) else None


def threshold_at_recall(y: np.ndarray, scores: np.ndarray, target: float) -> Optional[float]:
    """Highest observed score t whose recall at p >= t reaches `target`."""
    thresholds, tp, _, n_positive = _counts_per_threshold(y, scores)
    if n_positive == 0:
        return None
    hits = np.nonzero(tp / n_positive >= target)[0]
    return float(thresholds[hits[-1]]) if len(hits) else None


def operating_points(y: np.ndarray, p: np.ndarray, target: float, by: str) -> Dict[str, dict]:
    """Table V (by="precision") or its recall twin: threshold and metrics per class."""
    choose = threshold_at_precision if by == "precision" else threshold_at_recall
    points = {}
    for i, cls in enumerate(CLASSES):
        t = choose(y[:, i], p[:, i], target)
        points[cls] = {"threshold": t, **(confusion(y[:, i], p[:, i] >= t) if t is not None else {})}
    return points


def any_sweep(y: np.ndarray, p: np.ndarray, levels: Sequence[float] = PRECISION_LEVELS) -> List[dict]:
    """Table IV: for each precision level, the "any" threshold reaching it and its metrics."""
    rows = []
    for level in levels:
        t = threshold_at_precision(y[:, 0], p[:, 0], level)
        metrics = confusion(y[:, 0], p[:, 0] >= t) if t is not None else {}
        rows.append({"target_precision": level, "threshold": t, **{k: metrics.get(k) for k in ("precision", "recall", "accuracy")}})
    return rows


def binary_auc(y: np.ndarray, scores: np.ndarray) -> Optional[float]:
    """ROC AUC as the Mann-Whitney statistic with average ranks: a tied positive/negative
    pair counts half (the same number as sklearn's roc_auc_score). None for one label only."""
    y = np.asarray(y).astype(bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    _, inverse, counts = np.unique(np.asarray(scores), return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    ranks = (ends - (counts - 1) / 2.0)[inverse]  # 1-based average rank of each tie group
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def roc_auc(y: np.ndarray, p: np.ndarray) -> Dict[str, Optional[float]]:
    return {cls: binary_auc(y[:, i], p[:, i]) for i, cls in enumerate(CLASSES)}


def log_loss_per_class(y: np.ndarray, p: np.ndarray) -> Dict[str, float]:
    q = np.clip(p.astype(np.float64), LOG_LOSS_EPS, 1 - LOG_LOSS_EPS)
    bce = -(y * np.log(q) + (1 - y) * np.log(1 - q))
    return {cls: float(bce[:, i].mean()) for i, cls in enumerate(CLASSES)}


def weighted_log_loss(y: np.ndarray, p: np.ndarray, weights: Sequence[float] = RSNA_LOGLOSS_WEIGHTS) -> float:
    """RSNA 2019 metric: per-class mean BCE, averaged with weights (2 on "any")."""
    per_class = log_loss_per_class(y, p)
    return float(sum(w * per_class[c] for w, c in zip(weights, CLASSES)) / sum(weights))


def series_max(series: Sequence[str], y: np.ndarray, p: np.ndarray):
    """Series-level labels and probabilities: the maximum over each series' slices."""
    series = np.asarray(series)
    ids = list(dict.fromkeys(series.tolist()))
    ys = np.stack([y[series == s].max(axis=0) for s in ids])
    ps = np.stack([p[series == s].max(axis=0) for s in ids])
    return ids, ys, ps


def evaluate(y: np.ndarray, p: np.ndarray, series: Optional[Sequence[str]] = None,
             precision_target: float = 0.7, recall_target: float = 0.9) -> dict:
    """Everything `eval` reports, as the documented JSON object."""
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    if y.shape != p.shape or y.ndim != 2 or y.shape[1] != len(CLASSES):
        raise ValueError(f"labels {y.shape} and probabilities {p.shape} must both be [N, {len(CLASSES)}]")
    result = {
        "schema": "ich-triage/eval/v1",
        "classes": CLASSES,
        "n_images": int(len(y)),
        "prevalence": {cls: float(y[:, i].mean()) for i, cls in enumerate(CLASSES)},
        "at_0_5": per_class_at(y, p, [0.5] * len(CLASSES)),
        "exact_match_accuracy": exact_match(y, p),
        "any_predicted_vs_explicit": any_predicted_vs_explicit(y, p),
        "any_sweep": any_sweep(y, p),
        "at_precision": {"target": precision_target, "per_class": operating_points(y, p, precision_target, "precision")},
        "at_recall": {"target": recall_target, "per_class": operating_points(y, p, recall_target, "recall")},
        "roc_auc": roc_auc(y, p),
        "log_loss": log_loss_per_class(y, p),
        "weighted_log_loss": weighted_log_loss(y, p),
    }
    if series is not None:
        ids, ys, ps = series_max(series, y, p)
        result["series"] = {"n_series": len(ids), "roc_auc": roc_auc(ys, ps), "at_0_5": per_class_at(ys, ps, [0.5] * len(CLASSES))}
    return result

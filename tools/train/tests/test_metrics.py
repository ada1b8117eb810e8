"""Metrics against small cases computed by hand."""
import math

import numpy as np
import pytest

from ich_train.metrics import (
    any_predicted_vs_explicit,
    confusion,
    evaluate,
    exact_match,
    log_loss_per_class,
    roc_auc,
    series_max,
    threshold_at_precision,
    threshold_at_recall,
    weighted_log_loss,
)

Y_ANY = np.array([1, 0, 1, 0])
P_ANY = np.array([0.9, 0.4, 0.35, 0.1])


def six(any_labels, any_probs, other_prob=0.5):
    """[N, 6] arrays: "any" as given, subtypes all negative with probability `other_prob`."""
    y = np.zeros((len(any_labels), 6))
    y[:, 0] = any_labels
    p = np.full((len(any_labels), 6), other_prob)
    p[:, 0] = any_probs
    return y, p


def test_confusion_at_half():
    m = confusion(Y_ANY, P_ANY >= 0.5)
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (1, 0, 1, 2)
    assert (m["accuracy"], m["precision"], m["recall"], m["specificity"]) == (0.75, 1.0, 0.5, 1.0)
    assert confusion(np.array([0, 0]), np.array([0, 0]))["precision"] == 0.0  # zero_division=0


def test_auc_counts_ties_as_half():
    y, p = six(Y_ANY, P_ANY)
    y[0, 1] = 1  # epidural: one positive, all probabilities tied at 0.5
    auc = roc_auc(y, p)
    assert auc["any"] == pytest.approx(0.75)  # 3 of 4 positive/negative pairs ordered
    assert auc["epidural"] == pytest.approx(0.5)
    assert auc["subdural"] is None  # no positive


def test_auc_equals_sklearn_on_tied_random_scores():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(4)
    y = rng.random(500) < 0.2
    scores = np.round(rng.random(500) * (0.5 + y), 1)  # coarse rounding makes many ties
    from ich_train.metrics import binary_auc

    assert binary_auc(y, scores) == pytest.approx(roc_auc_score(y, scores), abs=1e-12)


def test_thresholds_at_fixed_precision_and_recall():
    # precision at p >= 0.1, 0.35, 0.4, 0.9: 0.5, 0.667, 0.5, 1.0
    assert threshold_at_precision(Y_ANY, P_ANY, 0.6) == 0.35
    assert threshold_at_precision(Y_ANY, P_ANY, 0.7) == 0.9
    assert threshold_at_precision(np.array([0, 0]), np.array([0.2, 0.3]), 0.5) is None
    assert threshold_at_recall(Y_ANY, P_ANY, 1.0) == 0.35
    assert threshold_at_recall(Y_ANY, P_ANY, 0.5) == 0.9


def test_log_losses():
    y, p = six(Y_ANY, P_ANY)
    expected_any = -(math.log(0.9) + math.log(0.6) + math.log(0.35) + math.log(0.9)) / 4
    assert log_loss_per_class(y, p)["any"] == pytest.approx(expected_any)
    assert log_loss_per_class(y, p)["epidural"] == pytest.approx(math.log(2))
    assert weighted_log_loss(y, p) == pytest.approx((2 * expected_any + 5 * math.log(2)) / 7)
    clipped = log_loss_per_class(*six([1], [0.0]))["any"]
    assert clipped == pytest.approx(-math.log(1e-7))


def test_exact_match_and_explicit_any():
    y, p = six(Y_ANY, P_ANY, other_prob=0.1)
    assert exact_match(y, p) == 0.75
    p[0, 2] = 0.7
    p[2, 3] = 0.8  # a subtype fires on the image whose learned "any" missed it
    both = any_predicted_vs_explicit(y, p)
    assert both["predicted"]["recall"] == 0.5 and both["explicit"]["recall"] == 1.0


def test_series_max_and_evaluate_schema():
    y, p = six(Y_ANY, P_ANY)
    ids, ys, ps = series_max(["a", "a", "b", "b"], y, p)
    assert ids == ["a", "b"] and ys[:, 0].tolist() == [1, 1] and ps[:, 0].tolist() == [0.9, 0.35]
    m = evaluate(y, p, ["a", "a", "b", "b"])
    assert m["schema"] == "ich-triage/eval/v1" and m["n_images"] == 4 and m["series"]["n_series"] == 2
    assert m["at_precision"]["per_class"]["any"]["threshold"] == 0.9
    assert m["any_sweep"][0] == {"target_precision": 0.5, "threshold": 0.1, "precision": 0.5, "recall": 1.0, "accuracy": 0.5}
    with pytest.raises(ValueError, match=r"\[N, 6\]"):
        evaluate(y[:, :5], p[:, :5])

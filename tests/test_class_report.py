"""Per-class precision, recall and F1, macro F1 and the most confused pairs, checked by hand."""
from __future__ import annotations

import pytest

from tui_trainer.training.class_report import ClassScores, ConfusedPair, class_scores, macro_f1, most_confused

CLASSES = ["a", "b", "c"]
# Rows: true class; columns: predicted. Column sums (predicted counts): 6, 10, 6.
CONFUSION = [[5, 2, 1],
             [1, 6, 1],
             [0, 2, 4]]


def test_precision_recall_and_f1_match_the_hand_computed_values():
    a, b, c = class_scores(CONFUSION, CLASSES)
    assert (a.name, a.support, b.support, c.support) == ("a", 8, 8, 6)
    # a: P = 5/6, R = 5/8, F1 = 2PR/(P+R) = (50/48) / (70/48) = 5/7
    assert a.precision == pytest.approx(5 / 6) and a.recall == pytest.approx(5 / 8)
    assert a.f1 == pytest.approx(5 / 7)
    # b: P = 6/10, R = 6/8, F1 = (9/10) / (27/20) = 2/3
    assert b.precision == pytest.approx(0.6) and b.recall == pytest.approx(0.75)
    assert b.f1 == pytest.approx(2 / 3)
    # c: P = R = 4/6, so F1 = 2/3 as well
    assert c.precision == pytest.approx(2 / 3) and c.recall == pytest.approx(2 / 3)
    assert c.f1 == pytest.approx(2 / 3)


def test_macro_f1_is_the_plain_mean_of_the_class_f1s():
    # (5/7 + 2/3 + 2/3) / 3 = (15 + 14 + 14) / 63
    assert macro_f1(class_scores(CONFUSION, CLASSES)) == pytest.approx(43 / 63)


def test_a_class_never_predicted_has_no_precision_but_an_f1_of_zero():
    scores = class_scores([[3, 0, 1], [2, 0, 0], [0, 0, 4]], CLASSES)
    assert scores[1] == ClassScores("b", None, 0.0, 0.0, 2)


def test_a_class_absent_and_never_predicted_is_left_out_of_the_macro_f1():
    scores = class_scores([[3, 1], [0, 0]], ["a", "b"])
    assert scores[1] == ClassScores("b", 0.0, None, 0.0, 0)  # predicted once, wrongly
    scores = class_scores([[4, 0], [0, 0]], ["a", "b"])
    assert scores[1] == ClassScores("b", None, None, None, 0)
    assert macro_f1(scores) == pytest.approx(1.0)
    assert macro_f1([]) is None


def test_most_confused_puts_the_largest_cells_first_and_breaks_ties_by_index():
    # Counts of 2 at (a, b) and (c, b); counts of 1 at (a, c), (b, a), (b, c); (c, a) is empty.
    assert most_confused(CONFUSION, CLASSES) == [
        ConfusedPair("a", "b", 2, (0, 1)), ConfusedPair("c", "b", 2, (2, 1)),
        ConfusedPair("a", "c", 1, (0, 2)), ConfusedPair("b", "a", 1, (1, 0)), ConfusedPair("b", "c", 1, (1, 2))]
    assert most_confused(CONFUSION, CLASSES, top=3)[-1] == ConfusedPair("a", "c", 1, (0, 2))
    assert [(p.true, p.predicted) for p in most_confused(CONFUSION, CLASSES, min_count=2)] == [("a", "b"), ("c", "b")]
    assert most_confused([[5, 0], [0, 5]], ["a", "b"]) == []


def test_a_matrix_that_does_not_match_the_classes_is_refused():
    with pytest.raises(ValueError):
        class_scores(CONFUSION, ["a", "b"])
    with pytest.raises(ValueError):
        most_confused([[1, 2], [3]], ["a", "b"])

"""Per-class precision, recall and F1, and the most confused pairs, from a confusion matrix.

Pure Python on the matrix lists (rows: true class, columns: predicted), so the app can use it
without torch.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ClassScores:
    name: str
    precision: float | None  # None when the class was never predicted
    recall: float | None  # None when the class has no test samples
    f1: float | None  # None when the class neither occurs nor is predicted
    support: int  # test samples of this class


@dataclass
class ConfusedPair:
    true: str
    predicted: str
    count: int
    cell: tuple[int, int] = (0, 0)  # (true, predicted) class indices


def _check(confusion: list[list[int]], classes: list[str]) -> None:
    n = len(classes)
    if len(confusion) != n or any(len(row) != n for row in confusion):
        raise ValueError(f"confusion matrix must be {n}x{n} for {n} classes")


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def class_scores(confusion: list[list[int]], classes: list[str]) -> list[ClassScores]:
    _check(confusion, classes)
    predicted = [sum(col) for col in zip(*confusion)]
    scores = []
    for i, (name, row) in enumerate(zip(classes, confusion)):
        tp, support = row[i], sum(row)
        fp, fn = predicted[i] - tp, support - tp
        # 2tp / (2tp + fp + fn) equals 2PR / (P + R) where both are defined, and stays defined
        # (as 0) for a class that occurs but is never predicted, where precision is not.
        scores.append(ClassScores(name, _ratio(tp, predicted[i]), _ratio(tp, support),
                                  _ratio(2 * tp, 2 * tp + fp + fn), support))
    return scores


def macro_f1(scores: list[ClassScores]) -> float | None:
    """The unweighted mean of the defined F1 scores."""
    defined = [s.f1 for s in scores if s.f1 is not None]
    return sum(defined) / len(defined) if defined else None


def most_confused(confusion: list[list[int]], classes: list[str], top: int = 8,
                  min_count: int = 1) -> list[ConfusedPair]:
    """The largest off-diagonal cells, largest first; ties in (true, predicted) index order."""
    _check(confusion, classes)
    cells = [(-count, i, j) for i, row in enumerate(confusion) for j, count in enumerate(row)
             if i != j and count >= min_count]
    return [ConfusedPair(classes[i], classes[j], -neg, (i, j)) for neg, i, j in sorted(cells)[:top]]


@dataclass
class Confusion:
    """One off-diagonal cell with its images: test-split indices, most confident first."""
    true: int
    predicted: int
    indices: list[int]

    @property
    def count(self) -> int:
        return len(self.indices)

    def to_json(self, classes: list[str]) -> dict:
        return {"true": classes[self.true], "predicted": classes[self.predicted], "count": self.count,
                "indices": self.indices}


def drill(labels: list[int], predicted: list[int], confidence: list[float], *, true: int | None = None,
          pred: int | None = None, wrong: bool = False) -> list[int]:
    """The images (indices) of true class `true` predicted as `pred` (None: any), only the wrong
    ones with `wrong`: most confident first, index order among equals. A class's misses are
    true=c, wrong; its false alarms pred=c, wrong; a confusion matrix cell is both given."""
    picked = [i for i, (t, p) in enumerate(zip(labels, predicted))
              if (true is None or t == true) and (pred is None or p == pred) and not (wrong and t == p)]
    return sorted(picked, key=lambda i: -confidence[i])


def confusions(labels: list[int], predicted: list[int], confidence: list[float]) -> list[Confusion]:
    """Every off-diagonal cell that has images, largest first (ties in class order)."""
    cells: dict[tuple[int, int], list[int]] = {}
    for i, (t, p) in enumerate(zip(labels, predicted)):
        if t != p:
            cells.setdefault((t, p), []).append(i)
    ranked = sorted(cells.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    return [Confusion(t, p, sorted(idx, key=lambda i: -confidence[i])) for (t, p), idx in ranked]


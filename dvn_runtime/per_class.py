"""Per-class figures of a classifier from its confusion matrix: recall, precision, worst class.

`confusion[true][predicted]` counts held-out examples, classes in logit
order. A ratio with nothing to count is null (None), never 0.0: a class with
no true examples has recall None, a class never predicted has precision None.
So a class that exists but is never predicted has recall 0.0 and precision
None. Training (results.json), the export (manifest.json) and
`dvn-runtime --evaluate` all compute their figures here; it needs only numpy.
"""

import numpy as np

DIGITS = 6  # ratios are rounded to this many decimals, as the manifest's accuracies


def confusion_matrix(true, predicted, num_classes):
    """[num_classes, num_classes] int64 counts of (true class, predicted class) pairs."""
    counts = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(counts, (np.asarray(true, np.int64), np.asarray(predicted, np.int64)), 1)
    return counts


def _ratios(hits, totals):
    return [round(float(hit) / float(total), DIGITS) if total else None
            for hit, total in zip(hits, totals)]


def recall(confusion):
    """Per-class recall (None for a class with no true examples) of a confusion matrix."""
    confusion = np.asarray(confusion)
    return _ratios(np.diag(confusion), confusion.sum(axis=1))


def per_class(confusion):
    """results.json's `per_class`: {"recall", "precision", "confusion"} of a confusion matrix.

    Counts given as floats (a Keras metric's) are rounded to whole examples.
    """
    counts = np.rint(np.asarray(confusion, np.float64)).astype(np.int64)
    return {"recall": recall(counts), "precision": _ratios(np.diag(counts), counts.sum(axis=0)),
            "confusion": counts.tolist()}


def worst_class(recalls):
    """Index of the first class of lowest recall, None recalls skipped; None if none is known.

    `recalls` may itself be None (a manifest entry without per_class_recall).
    """
    known = [(value, index) for index, value in enumerate(recalls or ()) if value is not None]
    return min(known)[1] if known else None

"""Text leakage: how well the label can be told from the query alone.

VLSBench calls it "visual safety information leakage": when the text gives the risk
away, the image is not needed, and a benchmark meant to test multimodal safety tests
reading. Measured here as a text-only classifier (TF-IDF of words and word pairs +
logistic regression), unsafe against benign (``safe`` + ``oversensitive``), its
predictions cross-validated (stratified folds; identical queries kept in one fold, so
that the classifier cannot score by having seen the very text) and summarised as
ROC-AUC with a bootstrap confidence interval. 0.5: the text says nothing about the
label; 1.0: the text alone gives it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mmsafety.audit.settings import BOOTSTRAP, FOLDS

TOP_FEATURES = 15
MAX_ROWS = 50_000
"""Rows the text classifier is fitted on at most: a larger set is sampled (stratified by
label, seeded). An AUC on 50,000 rows is within a fraction of a point of the whole set's,
at a fraction of the time."""
LEVELS: tuple[tuple[float, str], ...] = (
    (0.9, "high: the text alone tells unsafe from benign; the image is hardly needed"),
    (0.75, "moderate: the text carries much of the label"),
    (0.6, "low: the text carries a little of the label"),
    (0.0, "none: the text alone does not tell the label"),
)
"""Reading of the AUC (a rough guide, not a test). Cross-validated on text that carries no
signal, the AUC tends to fall *below* 0.5 (each held-out fold is skewed against what its
training folds saw), so anything under 0.6 reads as no leakage. The interval resamples
the cross-validated predictions; it does not re-fit the model."""


def reading(auc: float) -> str:
    """
    >>> reading(0.93)
    'high: the text alone tells unsafe from benign; the image is hardly needed'
    """
    return next(text for floor, text in LEVELS if auc >= floor)


def text_leakage(
    queries: Sequence[str | None],
    labels: Sequence[str],
    *,
    folds: int = FOLDS,
    bootstrap: int = BOOTSTRAP,
    seed: int = 0,
    top: int = TOP_FEATURES,
    max_rows: int = MAX_ROWS,
) -> dict[str, Any]:
    """The leakage section of the report: ``status`` ``done`` with the AUC, or ``skipped`` with a ``reason``."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import cross_val_predict
    from sklearn.pipeline import make_pipeline

    texts = [q or "" for q in queries]
    y = np.array([label == "unsafe" for label in labels], dtype=np.int64)
    positives, negatives = int(y.sum()), int(len(y) - y.sum())
    base: dict[str, Any] = {
        "target": "unsafe vs benign (safe + oversensitive)",
        "unsafe": positives,
        "benign": negatives,
    }
    if positives == 0 or negatives == 0:
        only = sorted(set(labels))
        return {
            **base,
            "status": "skipped",
            "reason": f"every sample is labelled {', '.join(only) or 'nothing'}: with a single label there is nothing to tell apart",
        }
    if len(y) > max_rows:
        kept = stratified_sample(y, max_rows, seed)
        texts, y = [texts[i] for i in kept], y[kept]
        base["sampled"] = f"{len(kept):,} of {len(labels):,} rows, stratified by label"
    groups = np.unique([" ".join(t.lower().split()) for t in texts], return_inverse=True)[1]
    distinct = min(len(set(groups[y == 1])), len(set(groups[y == 0])))
    folds = min(folds, distinct)
    if folds < 2:
        return {**base, "status": "skipped", "reason": f"too few distinct queries in the smaller class ({distinct}) to cross-validate"}

    def model() -> Any:
        vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2 if len(texts) >= 200 else 1, sublinear_tf=True, strip_accents="unicode")
        return make_pipeline(vectorizer, LogisticRegression(C=1.0, class_weight="balanced", solver="liblinear", max_iter=1000))

    cv = group_folds(y, groups, folds, seed)
    try:
        scores = cross_val_predict(model(), texts, y, cv=cv, method="predict_proba")[:, 1]
        fitted = model().fit(texts, y)
    except ValueError as error:  # e.g. no word in any query: an empty vocabulary
        return {**base, "status": "skipped", "reason": f"the text classifier could not be fitted ({error})"}
    auc = float(roc_auc_score(y, scores))
    low, high = bootstrap_auc_ci(y, scores, n_boot=bootstrap, seed=seed)
    return {
        **base,
        "status": "done",
        "roc_auc": round(auc, 4),
        "ci95": [round(low, 4), round(high, 4)],
        "reading": reading(auc),
        "folds": folds,
        "bootstrap": bootstrap,
        "model": "TF-IDF (words and word pairs, sublinear tf) + logistic regression (balanced classes), "
        f"{folds}-fold stratified cross-validation, identical queries in one fold",
        "features": top_features(fitted, texts, y, top),
    }


def stratified_sample(y: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Row indices, ``size`` in all, each class kept in its share (at least one row each), in row order.

    >>> stratified_sample(np.array([1] * 90 + [0] * 10), 20, 0).size
    20
    >>> int(np.array([1] * 90 + [0] * 10)[stratified_sample(np.array([1] * 90 + [0] * 10), 20, 0)].sum())
    18
    """
    rng = np.random.default_rng(seed)
    positives, negatives = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    take = min(len(positives), max(1, round(size * len(positives) / len(y))))
    picked = [rng.choice(positives, take, replace=False), rng.choice(negatives, min(len(negatives), size - take), replace=False)]
    return np.sort(np.concatenate(picked))


def group_folds(y: np.ndarray, groups: np.ndarray, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(train, test)`` index pairs: every group in one fold, the groups of each class dealt round the folds.

    A group takes its majority class. (scikit-learn's ``StratifiedGroupKFold`` does the
    same more exactly, in a Python loop over groups that takes seconds on 20,000.)

    >>> y = np.array([1, 1, 0, 0, 1, 0]); groups = np.array([0, 0, 1, 2, 3, 4])
    >>> [sorted(test.tolist()) for _, test in group_folds(y, groups, 2, seed=0)]
    [[0, 1, 3, 5], [2, 4]]
    """
    rng = np.random.default_rng(seed)
    sizes = np.bincount(groups)
    positive = np.bincount(groups, weights=y, minlength=len(sizes)) * 2 >= sizes
    fold_of_group = np.zeros(len(sizes), dtype=np.int64)
    for members in (np.flatnonzero(positive), np.flatnonzero(~positive)):
        members = rng.permutation(members)
        fold_of_group[members] = np.arange(len(members)) % folds
    fold = fold_of_group[groups]
    return [(np.flatnonzero(fold != k), np.flatnonzero(fold == k)) for k in range(folds)]


def bootstrap_auc_ci(y: np.ndarray, scores: np.ndarray, *, n_boot: int = BOOTSTRAP, seed: int = 0, alpha: float = 0.05) -> tuple[float, float]:
    """Percentile bootstrap interval of the ROC-AUC, every resample in one vectorised pass.

    The scores are sorted once; a resample is a vector of counts per row, and its AUC
    is the weighted Mann-Whitney statistic over the groups of tied scores.

    >>> y = np.array([0, 0, 1, 1]); s = np.array([0.1, 0.4, 0.35, 0.8])
    >>> low, high = bootstrap_auc_ci(y, s, n_boot=200)
    >>> 0.0 <= low <= 0.75 <= high <= 1.0
    True
    """
    rng = np.random.default_rng(seed)
    order = np.argsort(scores, kind="mergesort")
    ordered, positive = scores[order], y[order].astype(bool)
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    n = len(y)
    aucs: list[np.ndarray] = []
    chunk = max(1, (1 << 20) // max(n, 1))  # resamples at a time: ~60 MB of working arrays
    for begin in range(0, n_boot, chunk):
        size = min(chunk, n_boot - begin)
        picks = rng.integers(0, n, size=(size, n)) + (np.arange(size) * n)[:, None]
        counts = np.bincount(picks.ravel(), minlength=size * n).reshape(size, n)[:, order].astype(np.float64)
        pos = np.add.reduceat(np.where(positive, counts, 0.0), starts, axis=1)
        neg = np.add.reduceat(np.where(positive, 0.0, counts), starts, axis=1)
        below = np.cumsum(neg, axis=1) - neg
        pairs = pos.sum(axis=1) * neg.sum(axis=1)
        wins = (pos * (below + 0.5 * neg)).sum(axis=1)
        valid = pairs > 0
        aucs.append(wins[valid] / pairs[valid])
    values = np.concatenate(aucs)
    if not values.size:  # every resample held one class (a handful of rows): no interval to speak of
        return 0.0, 1.0
    return float(np.quantile(values, alpha / 2)), float(np.quantile(values, 1 - alpha / 2))


def top_features(fitted: Any, texts: Sequence[str], y: np.ndarray, top: int) -> dict[str, list[dict[str, Any]]]:
    """The terms that push hardest towards unsafe and towards benign, with how many queries of each class hold them."""
    vectorizer, classifier = fitted.steps[0][1], fitted.steps[-1][1]
    terms = vectorizer.get_feature_names_out()
    weights = classifier.coef_[0]
    present = vectorizer.transform(texts) > 0
    in_unsafe = np.asarray(present[y == 1].sum(axis=0)).ravel()
    in_benign = np.asarray(present[y == 0].sum(axis=0)).ravel()

    def rows(indices: np.ndarray) -> list[dict[str, Any]]:
        return [
            {"term": str(terms[i]), "weight": round(float(weights[i]), 4), "unsafe_queries": int(in_unsafe[i]), "benign_queries": int(in_benign[i])}
            for i in indices
        ]

    order = np.argsort(weights, kind="mergesort")
    return {"unsafe": rows(order[::-1][:top]), "benign": rows(order[:top])}

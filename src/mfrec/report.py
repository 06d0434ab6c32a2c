"""PNG plots of a training run.

Figures are built with matplotlib's object API (matplotlib.figure.Figure), which renders
with the Agg canvas and never touches pyplot: no display, no global figure registry, nothing
left open, and no backend switch for other code in the process.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

LEARNING_CURVES_PNG = "learning_curves.png"
RATING_DISTRIBUTION_PNG = "rating_distribution.png"
CUSTOMER_SCATTER_PNG = "customer_scatter.png"
_DPI = 110
_BASELINE_COLORS = ("tab:gray", "tab:purple", "tab:brown", "tab:olive", "tab:cyan")


@dataclass(frozen=True)
class CustomerScatter:
    """Predicted ratings of every product for two customers (same product order)."""

    pred_a: np.ndarray
    pred_b: np.ndarray
    label_a: str
    label_b: str


def plot_learning_curves(
    history: list[dict],
    path,
    baselines_mse: dict[str, float] | None = None,
    best_epoch: int | None = None,
) -> Path:
    """Train/validation MSE per epoch, baseline MSEs as horizontal lines, best epoch marked.

    best_epoch defaults to the epoch with the lowest validation_mse (none if never validated).
    """
    if not history:
        raise ValueError("history has no epochs")
    epochs = [entry["epoch"] for entry in history]
    train = [_number(entry.get("train_mse")) for entry in history]
    validation = [_number(entry.get("validation_mse")) for entry in history]
    if best_epoch is None:
        best_epoch = _lowest_epoch(epochs, validation)
    fig = Figure(figsize=(8, 5))
    ax = fig.subplots()
    ax.plot(epochs, train, marker="o", label="train MSE", color="tab:blue")
    if not all(math.isnan(v) for v in validation):
        ax.plot(epochs, validation, marker="o", label="validation MSE", color="tab:orange")
    for color, (name, value) in zip(_cycle(_BASELINE_COLORS), (baselines_mse or {}).items()):
        ax.axhline(value, linestyle="--", color=color, label=f"{name} baseline {value:.3f}")
    title = "Learning curves"
    if best_epoch is not None:
        ax.axvline(best_epoch, color="tab:green", linestyle=":", label=f"best epoch {best_epoch}")
        title += f" (best epoch {best_epoch} of {epochs[-1]}{_validation_note(history, best_epoch)})"
    ax.set(title=title, xlabel="epoch", ylabel="MSE")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return _save(fig, path)


def plot_rating_distribution(predicted, actual, path, rating_range=(1.0, 5.0)) -> Path:
    """Left: predictions per actual star (box). Right: share of predicted vs actual ratings."""
    predicted = np.asarray(predicted, dtype=np.float64)
    actual = np.asarray(actual, dtype=np.float64)
    if predicted.shape != actual.shape or predicted.size == 0:
        raise ValueError("predicted and actual must be non-empty and of equal shape")
    fig = Figure(figsize=(12, 5))
    box_ax, hist_ax = fig.subplots(1, 2)
    _box_by_star(box_ax, predicted, actual)
    _histogram_overlay(hist_ax, predicted, actual, rating_range)
    fig.suptitle(f"Test predictions vs actual ratings (n={predicted.size:,})")
    return _save(fig, path)


def _box_by_star(ax, predicted, actual) -> None:
    stars = np.rint(actual)
    levels = np.unique(stars)
    groups = [predicted[stars == level] for level in levels]
    ax.boxplot(groups, positions=levels, widths=0.5, showfliers=False, showmeans=True)
    ax.plot(levels, levels, "x", color="tab:red", label="perfect prediction")
    ax.set(title="Predicted rating by actual star", xlabel="actual stars", ylabel="predicted rating")
    ax.set_xticks(levels, [f"{level:g}\n(n={len(group):,})" for level, group in zip(levels, groups)])
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")


def _histogram_overlay(ax, predicted, actual, rating_range) -> None:
    low, high = rating_range
    # predictions far outside the rating range would stretch the axis; they pile up at the edge
    shown = np.clip(predicted, low - 1.0, high + 1.0)
    width = 0.25
    first = math.floor(min(shown.min(), actual.min()))
    last = math.ceil(max(shown.max(), actual.max()))
    bins = np.arange(first - width / 2, last + width, width)  # each whole star centred in a bin
    weight = 1.0 / predicted.size
    ax.hist(actual, bins=bins, weights=np.full(actual.size, weight), alpha=0.5, label="actual")
    ax.hist(shown, bins=bins, weights=np.full(shown.size, weight), histtype="step", linewidth=2,
            label="predicted")
    ax.set(title="Distribution", xlabel="rating", ylabel="share of test ratings")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")


def plot_customer_scatter(pred_a, pred_b, label_a: str, label_b: str, path) -> Path:
    """Predicted ratings of all products for customer A (x) against customer B (y).

    Points hugging a line mean the model barely tells the two customers apart.
    """
    pred_a = np.asarray(pred_a, dtype=np.float64)
    pred_b = np.asarray(pred_b, dtype=np.float64)
    if pred_a.shape != pred_b.shape or pred_a.size == 0:
        raise ValueError("pred_a and pred_b must be non-empty and of equal shape")
    correlation = _correlation(pred_a, pred_b)
    fig = Figure(figsize=(6, 6))
    ax = fig.subplots()
    ax.scatter(pred_a, pred_b, s=4, alpha=0.3, rasterized=True)
    low = min(pred_a.min(), pred_b.min())
    high = max(pred_a.max(), pred_b.max())
    ax.plot([low, high], [low, high], linestyle="--", color="tab:gray", label="y = x")
    r_text = "n/a" if math.isnan(correlation) else f"{correlation:.3f}"
    ax.set(
        title=f"Predicted ratings of {pred_a.size:,} products\nPearson r = {r_text}",
        xlabel=f"customer {label_a}",
        ylabel=f"customer {label_b}",
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return _save(fig, path)


def write_report(
    output_dir,
    history: list[dict],
    baselines_mse: dict[str, float] | None,
    test_pred,
    test_actual,
    scatter: CustomerScatter | None,
    best_epoch: int | None = None,
) -> list[Path]:
    """Write all plots into output_dir (created if needed); scatter=None skips that plot."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    written = [
        plot_learning_curves(history, output_dir / LEARNING_CURVES_PNG, baselines_mse, best_epoch),
        plot_rating_distribution(test_pred, test_actual, output_dir / RATING_DISTRIBUTION_PNG),
    ]
    if scatter is not None:
        written.append(
            plot_customer_scatter(
                scatter.pred_a, scatter.pred_b, scatter.label_a, scatter.label_b,
                output_dir / CUSTOMER_SCATTER_PNG,
            )
        )
    return written


def _save(fig: Figure, path) -> Path:
    path = Path(path)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=_DPI)
    return path


def _number(value) -> float:
    return math.nan if value is None else float(value)


def _validation_note(history, epoch) -> str:
    value = next((entry.get("validation_mse") for entry in history if entry["epoch"] == epoch), None)
    return "" if value is None else f", validation MSE {float(value):.3f}"


def _lowest_epoch(epochs, values) -> int | None:
    finite = [(value, epoch) for epoch, value in zip(epochs, values) if math.isfinite(value)]
    return min(finite)[1] if finite else None


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    if a.size < 2 or a.std() == 0 or b.std() == 0:
        return math.nan
    return float(np.corrcoef(a, b)[0, 1])


def _cycle(items):
    while True:
        yield from items

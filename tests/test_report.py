import matplotlib.pyplot as plt
import numpy as np
import pytest

from mfrec.report import (
    CustomerScatter,
    plot_customer_scatter,
    plot_learning_curves,
    plot_rating_distribution,
    write_report,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > 10_000  # a rendered plot, not an empty canvas


def history(validated=True):
    return [
        {"epoch": e, "train_mse": 2.0 / e + 0.5, "validation_mse": (1.5 / e + 0.8 + 0.02 * e) if validated else None}
        for e in range(1, 8)
    ]


@pytest.fixture
def predictions():
    rng = np.random.default_rng(0)
    actual = rng.integers(1, 6, 2000).astype(np.float32)
    return actual * 0.5 + 2.0 + rng.normal(0.0, 0.4, actual.size), actual


def test_learning_curves_with_baselines(tmp_path):
    path = plot_learning_curves(history(), tmp_path / "curves.png", {"global mean": 1.6, "bias": 1.1})
    assert path == tmp_path / "curves.png"
    assert_png(path)


def test_learning_curves_without_validation(tmp_path):
    assert_png(plot_learning_curves(history(validated=False), tmp_path / "curves.png"))


def test_learning_curves_reject_empty_history(tmp_path):
    with pytest.raises(ValueError):
        plot_learning_curves([], tmp_path / "curves.png")


def test_rating_distribution(tmp_path, predictions):
    predicted, actual = predictions
    assert_png(plot_rating_distribution(predicted, actual, tmp_path / "dist.png"))


def test_rating_distribution_rejects_mismatched_arrays(tmp_path):
    with pytest.raises(ValueError):
        plot_rating_distribution([1.0, 2.0], [1.0], tmp_path / "dist.png")


def test_customer_scatter_including_a_constant_customer(tmp_path):
    rng = np.random.default_rng(1)
    pred_a = rng.normal(4.0, 0.5, 500)
    assert_png(plot_customer_scatter(pred_a, pred_a + rng.normal(0, 0.1, 500), "A1", "B2", tmp_path / "s.png"))
    assert_png(plot_customer_scatter(pred_a, np.full(500, 3.0), "A1", "C3", tmp_path / "c.png"))


def test_write_report_writes_all_plots_and_leaves_no_figure_open(tmp_path, predictions):
    predicted, actual = predictions
    figures_before = plt.get_fignums()
    scatter = CustomerScatter(predicted[:300], predicted[300:600], "A", "B")
    written = write_report(tmp_path / "out", history(), {"bias": 1.1}, predicted, actual, scatter)
    assert [p.name for p in written] == ["learning_curves.png", "rating_distribution.png", "customer_scatter.png"]
    for path in written:
        assert_png(path)
    assert plt.get_fignums() == figures_before


def test_write_report_without_scatter_or_validation(tmp_path, predictions):
    predicted, actual = predictions
    written = write_report(tmp_path, history(validated=False), None, predicted, actual, None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["learning_curves.png", "rating_distribution.png"]
    assert len(written) == 2

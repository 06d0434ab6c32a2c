import logging

import pytest

from mfrec.progress import Progress, format_count, format_duration


class ManualClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


@pytest.fixture
def logger():
    return logging.getLogger("test_progress")


def messages(caplog):
    return [record.getMessage() for record in caplog.records]


@pytest.mark.parametrize(
    "value, text",
    [(0, "0"), (950, "950"), (12.5, "12.5"), (999.96, "1.0K"), (1234, "1.2K"), (99960, "100K"),
     (850_000, "850K"), (4_000_000, "4.0M"), (3.1e9, "3.1B")],
)
def test_format_count(value, text):
    assert format_count(value) == text


@pytest.mark.parametrize(
    "seconds, text",
    [(2.5, "2.5s"), (3, "3s"), (42.4, "42s"), (125, "2m05s"), (3725, "1h02m"), (float("inf"), "?")],
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_logs_rate_percentage_and_eta_once_per_interval(caplog, logger):
    clock = ManualClock()
    progress = Progress(logger, "epoch 3", total=4_000_000, interval_s=30.0, clock=clock)
    with caplog.at_level(logging.INFO, logger="test_progress"):
        clock.now += 10.0
        progress.advance(400_000)  # before the first interval: silent
        clock.now += 20.0
        progress.advance(800_000)  # 1.2M after 30 s
        clock.now += 5.0
        progress.advance(100_000)  # 5 s after the last line: silent
    assert messages(caplog) == ["epoch 3: 1.2M/4.0M ratings (30%), 40.0K ratings/s, ETA 1m10s"]


def test_unknown_total_has_no_percentage_or_eta(caplog, logger):
    clock = ManualClock()
    progress = Progress(logger, "reading", unit="rows", interval_s=1.0, clock=clock)
    with caplog.at_level(logging.INFO, logger="test_progress"):
        clock.now += 2.0
        progress.advance(3000)
    assert messages(caplog) == ["reading: 3.0K rows, 1.5K rows/s"]


def test_finish_returns_elapsed_and_rate_and_logs_a_summary(caplog, logger):
    clock = ManualClock()
    progress = Progress(logger, "epoch 1", total=1000, interval_s=60.0, clock=clock)
    with caplog.at_level(logging.INFO, logger="test_progress"):
        progress.advance(600)
        clock.now += 4.0
        progress.advance(400)
        summary = progress.finish()
    assert summary.count == 1000
    assert summary.elapsed_s == pytest.approx(4.0)
    assert summary.rate_per_s == pytest.approx(250.0)
    assert messages(caplog) == ["epoch 1: done, 1.0K ratings in 4s (250 ratings/s)"]


def test_label_with_percent_sign_is_logged_verbatim(caplog, logger):
    clock = ManualClock()
    progress = Progress(logger, "100% of %s files", total=None, unit="files", interval_s=0.0, clock=clock)
    with caplog.at_level(logging.INFO, logger="test_progress"):
        clock.now += 1.0
        progress.advance(2)
    assert messages(caplog) == ["100% of %s files: 2 files, 2 files/s"]


def test_no_line_contains_a_carriage_return(caplog, logger):
    clock = ManualClock()
    progress = Progress(logger, "epoch 1", total=10, interval_s=0.0, clock=clock)
    with caplog.at_level(logging.INFO, logger="test_progress"):
        for _ in range(10):
            clock.now += 1.0
            progress.advance(1)
        progress.finish()
    assert len(caplog.records) == 11
    assert not any("\r" in message for message in messages(caplog))

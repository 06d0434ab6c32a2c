import gzip
import itertools
import logging
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mfrec.data.generate import generate_reviews, write_reviews
from mfrec.data.read import ColumnNames, _prefetched, list_channel_files, read_channel
from mfrec.errors import UserError

STANDARD = ["customer_id", "product_id", "star_rating", "product_title", "review_date", "row"]
MOVIELENS = ColumnNames(customer="user", product="item", rating="rating", title=None, date="timestamp")


def write_text(path, lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def assert_same_reviews(frame, expected):
    assert frame["customer_id"].tolist() == expected["customer_id"].tolist()
    assert frame["product_id"].tolist() == expected["product_id"].tolist()
    assert frame["star_rating"].tolist() == expected["star_rating"].astype(float).tolist()
    assert frame["product_title"].tolist() == expected["product_title"].tolist()
    assert frame["review_date"].tolist() == pd.to_datetime(expected["review_date"]).tolist()


@pytest.mark.parametrize("name", ["r.tsv", "r.tsv.gz", "r.csv", "r.csv.gz", "r.parquet"])
def test_each_format_reads_the_valid_rows_and_counts_the_malformed(tmp_path, name):
    counts = write_reviews(tmp_path / name, 1_500, seed=3, malformed_rate=0.02)
    result = read_channel(tmp_path)
    assert_same_reviews(result.frame, generate_reviews(1_500, seed=3))
    assert result.files == 1
    assert result.malformed_rows == counts.malformed_lines
    assert result.rows_read == 1_500 + counts.malformed_lines
    assert result.bytes == (tmp_path / name).stat().st_size


def test_frame_has_the_standard_columns_and_types(tmp_path):
    write_reviews(tmp_path / "r.tsv", 200, seed=1)
    frame = read_channel(tmp_path).frame
    assert list(frame.columns) == STANDARD
    assert frame["star_rating"].dtype == np.float32
    assert frame["review_date"].dtype == "datetime64[ns]"
    assert frame["row"].dtype == np.int64
    assert all(isinstance(value, str) for value in frame["customer_id"])
    assert frame["customer_id"].str.startswith("0").any()


def test_files_are_read_in_sorted_path_order_with_running_rows(tmp_path):
    write_reviews(tmp_path / "b" / "part.csv", 100, seed=2, malformed_rate=0)
    write_reviews(tmp_path / "a" / "part.tsv.gz", 50, seed=1, malformed_rate=0)
    (tmp_path / "README.txt").write_text("not data")
    assert list_channel_files(tmp_path) == [tmp_path / "a" / "part.tsv.gz", tmp_path / "b" / "part.csv"]
    result = read_channel(tmp_path)
    expected = pd.concat([generate_reviews(50, seed=1), generate_reviews(100, seed=2)])
    assert_same_reviews(result.frame, expected)
    assert result.frame["row"].tolist() == list(range(150))
    assert result.files == 2


def test_rows_count_malformed_lines_so_they_keep_file_positions(tmp_path):
    write_text(tmp_path / "r.tsv", [
        "customer_id\tproduct_id\tstar_rating", "c1\tp1\t5", "c2\tp2", "c3\tp3\tfive", "c4\tp4\t4",
    ])
    result = read_channel(tmp_path, ColumnNames(title=None, date=None))
    assert result.frame["customer_id"].tolist() == ["c1", "c4"]
    assert result.frame["row"].tolist()[0] == 0
    assert result.frame["row"].tolist()[1] > 1
    assert (result.rows_read, result.malformed_rows) == (4, 2)


def test_movielens_columns_map_and_unix_seconds_become_dates(tmp_path):
    write_reviews(tmp_path / "ratings.csv", 300, seed=4, malformed_rate=0, format="movielens")
    frame = read_channel(tmp_path, MOVIELENS).frame
    expected = generate_reviews(300, seed=4)
    assert frame["customer_id"].tolist() == expected["customer_id"].tolist()
    assert (frame["product_title"] == "").all()
    noon = pd.to_datetime(expected["review_date"]) + pd.Timedelta(hours=12)
    assert frame["review_date"].tolist() == noon.tolist()


def test_stray_quotes_in_tsv_do_not_swallow_lines(tmp_path):
    write_text(tmp_path / "r.tsv", [
        "customer_id\tproduct_id\tstar_rating\tproduct_title",
        'c1\tp1\t5\t"Quoted start',
        "c2\tp2\t4\tPlain",
        'c3\tp3\t3\tA 12" single',
    ])
    frame = read_channel(tmp_path, ColumnNames(date=None)).frame
    assert frame["product_title"].tolist() == ['"Quoted start', "Plain", 'A 12" single']


def test_bad_ratings_and_empty_ids_are_malformed(tmp_path):
    write_text(tmp_path / "r.csv", [
        "customer_id,product_id,star_rating",
        "c1,p1,4.5", "c2,p2,0", "c3,p3,6", "c4,p4,nan", "c5,p5,", ",p6,5", "c7, ,5", "c8,p8, 3 ",
    ])
    result = read_channel(tmp_path, ColumnNames(title=None, date=None))
    assert result.frame["customer_id"].tolist() == ["c1", "c8"]
    assert result.frame["star_rating"].tolist() == [4.5, 3.0]
    assert result.malformed_rows == 6


def test_rating_range_is_configurable(tmp_path):
    write_text(tmp_path / "r.csv", ["customer_id,product_id,star_rating", "c1,p1,0.5", "c2,p2,10"])
    frame = read_channel(tmp_path, ColumnNames(title=None, date=None), rating_range=(0.5, 10)).frame
    assert frame["star_rating"].tolist() == [0.5, 10.0]


def test_dates_parse_iso_and_unix_seconds_and_bad_ones_become_nat(tmp_path):
    write_text(tmp_path / "r.csv", [
        "customer_id,product_id,star_rating,review_date",
        "c1,p1,5,2015-08-31", "c2,p2,5,86400", "c3,p3,5,last tuesday", "c4,p4,5,",
    ])
    dates = read_channel(tmp_path, ColumnNames(title=None)).frame["review_date"]
    assert dates.tolist()[:2] == [pd.Timestamp("2015-08-31"), pd.Timestamp("1970-01-02")]
    assert dates.iloc[2:].isna().all()


def test_missing_optional_columns_give_empty_title_and_nat(tmp_path):
    write_text(tmp_path / "r.tsv", ["customer_id\tproduct_id\tstar_rating", "c1\tp1\t5"])
    frame = read_channel(tmp_path).frame
    assert frame["product_title"].tolist() == [""]
    assert frame["review_date"].isna().all()


def test_parquet_with_integer_ids_and_dates(tmp_path):
    table = pa.table({
        "customer_id": pa.array([7, 8], pa.int64()), "product_id": ["p1", "p2"],
        "star_rating": pa.array([5, 2], pa.int8()),
        "review_date": pa.array([pd.Timestamp("2014-01-02").date()] * 2, pa.date32()),
    })
    pq.write_table(table, tmp_path / "r.parquet")
    frame = read_channel(tmp_path, ColumnNames(title=None)).frame
    assert frame["customer_id"].tolist() == ["7", "8"]
    assert frame["review_date"].tolist() == [pd.Timestamp("2014-01-02")] * 2


def test_missing_required_column_names_file_column_and_found_columns(tmp_path):
    write_text(tmp_path / "r.csv", ["user,item,rating", "u1,i1,5"])
    with pytest.raises(UserError) as error:
        read_channel(tmp_path)
    message = str(error.value)
    assert "r.csv" in message and "'customer_id'" in message and "user, item, rating" in message


@pytest.mark.parametrize("content", [b"this is not gzip at all", None])
def test_corrupt_gzip_names_the_file(tmp_path, content):
    if content is None:
        content = gzip.compress(("customer_id\tproduct_id\tstar_rating\n" + "c\tp\t5\n" * 5000).encode())[:-200]
    (tmp_path / "bad.tsv.gz").write_bytes(content)
    with pytest.raises(UserError, match="bad.tsv.gz"):
        read_channel(tmp_path)


def test_channel_without_data_files_lists_accepted_extensions(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(UserError, match=r"no readable data files.*\.tsv\.gz"):
        read_channel(tmp_path)


def test_missing_channel_directory(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        read_channel(tmp_path / "absent")


def test_channel_with_zero_usable_rows(tmp_path):
    write_text(tmp_path / "r.csv", ["customer_id,product_id,star_rating", "c1,p1,9"])
    with pytest.raises(UserError, match="no usable rows.*1 rows read, 1 malformed"):
        read_channel(tmp_path, ColumnNames(title=None, date=None))


def test_empty_file_is_a_user_error(tmp_path):
    (tmp_path / "r.csv").write_text("")
    with pytest.raises(UserError, match="r.csv"):
        read_channel(tmp_path)


def test_progress_is_logged_per_file(tmp_path, caplog):
    write_reviews(tmp_path / "r.tsv", 100, seed=1, malformed_rate=0)
    with caplog.at_level(logging.INFO, logger="mfrec.data"):
        read_channel(tmp_path)
    assert any("r.tsv: 100 rows (0 malformed)" in m and "MB/s" in m for m in caplog.messages)


def test_a_large_gzip_file_reads_the_same_rows_as_its_plain_text(tmp_path):
    """Several Arrow blocks, read ahead on a helper thread and inflated by ISA-L."""
    for name in ("plain/reviews.tsv", "gz/reviews.tsv.gz"):
        (tmp_path / name).parent.mkdir()
        write_reviews(tmp_path / name, 60_000, seed=4)
    plain = read_channel(tmp_path / "plain", ColumnNames(), (1, 5)).frame
    packed = read_channel(tmp_path / "gz", ColumnNames(), (1, 5)).frame
    pd.testing.assert_frame_equal(plain, packed)


def test_read_ahead_hands_over_every_item_in_order():
    assert list(_prefetched(iter(range(100)), depth=3)) == list(range(100))


def test_read_ahead_raises_the_readers_error_in_the_consumer():
    def failing():
        yield 1
        raise OSError("disk went away")

    batches = _prefetched(failing())
    assert next(batches) == 1
    with pytest.raises(OSError, match="disk went away"):
        next(batches)


def test_read_ahead_stops_its_thread_when_the_consumer_stops_early():
    pulled = []

    def endless():
        for n in itertools.count():
            pulled.append(n)
            yield n

    batches = _prefetched(endless(), depth=2)
    assert next(batches) == 0
    batches.close()
    time.sleep(0.5)
    settled = len(pulled)
    time.sleep(0.3)
    assert len(pulled) == settled <= 5

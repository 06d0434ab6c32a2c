"""Synthetic reviews in the amazon_reviews_us_*_v1_00 TSV schema with a known latent structure.

Every customer and product gets a latent vector and a bias; a rating is
clip(round(global_mean + b_u + b_i + <p_u, q_i> + noise), 1, 5). Activity is long tailed
(Zipf-like reviews per customer, lognormal product popularity) and a customer's later
reviews have later (or equal) dates. Rows are built column-wise from small dictionaries with
pyarrow, so millions of rows take seconds.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

AMAZON_COLUMNS = (
    "marketplace", "customer_id", "review_id", "product_id", "product_parent", "product_title",
    "product_category", "star_rating", "helpful_votes", "total_votes", "vine",
    "verified_purchase", "review_headline", "review_body", "review_date",
)
MOVIELENS_COLUMNS = ("user", "item", "rating", "timestamp")
FORMATS = ("tsv", "csv", "parquet", "movielens")
MALFORMED_KINDS = (
    "too_few_fields", "too_many_fields", "rating_not_numeric", "rating_out_of_range",
    "empty_customer_id",
)

_BASE36 = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", dtype=np.uint8)
_DECIMAL = _BASE36[:10]
_ADJECTIVES = (
    "Lost", "Silent", "Broken", "Golden", "Last", "Hidden", "Dark", "Wild", "Secret", "Final",
    "Crimson", "Frozen", "Little", "Endless", "Midnight", "Savage", "Quiet", "Burning",
    "Northern", "Electric", "Lonely", "Perfect", "Strange", "Eternal", "Restless",
)
_NOUNS = (
    "Empire", "River", "Witness", "Garden", "Kingdom", "Detective", "Voyage", "Summer", "Shadow",
    "Island", "Promise", "Highway", "Legacy", "Storm", "Station", "Mountain", "Heist", "Letter",
    "Frontier", "Orchestra", "Harbor", "Mission", "Dynasty", "Horizon", "Carnival", "Signal",
)
_TITLE_SUFFIXES = (
    "", "", "", "", ": Season 1", ": Season 2", ": Season 3", " (HD)", " [Extended Cut]",
    " - Director's Cut", " (1998)", " (2012)", " Part II", ": The \"Lost\" Episodes",
)
_HEADLINES = (
    ("One Star", "Terrible", "Waste of money", "Don't bother", "Awful \"comedy\""),
    ("Two Stars", "Disappointing", "Not great", "Meh", "Could have been better"),
    ("Three Stars", "OK", "Average", "It's alright", "Watchable once"),
    ("Four Stars", "Good movie", "Enjoyed it", "Worth watching", "Pretty good"),
    ("Five Stars", "Great movie!", "Loved it", "A must see", "Excellent \"classic\""),
)
_BODY_WORDS = (
    "great", "movie", "show", "acting", "story", "plot", "loved", "watched", "again", "kids",
    "family", "boring", "funny", "season", "episode", "streaming", "quality", "picture", "sound",
    "ending", "characters", "recommend", "highly", "not", "really", "the", "a", "was", "it",
    "and", "but", "very", "good", "bad", "fun", "classic", "5\"", "\"best", "ever\"", "can't",
)


@dataclass(frozen=True)
class GeneratorOptions:
    """Knobs of the synthetic population; defaults mimic Amazon's digital-video reviews."""

    rank: int = 8
    global_mean: float = 4.5
    customer_bias_std: float = 0.45
    product_bias_std: float = 0.45
    interaction_std: float = 0.6
    noise_std: float = 0.5
    disappointed_probability: float = 0.06
    disappointed_drop: float = 3.0
    customer_activity_exponent: float = 2.2
    max_reviews_per_customer: int = 1000
    rows_per_product: float = 25.0
    product_popularity_sigma: float = 1.8
    same_day_probability: float = 0.25
    mean_days_between_reviews: float = 90.0
    first_date: str = "2005-01-01"
    last_date: str = "2015-08-31"


@dataclass(frozen=True)
class SyntheticTruth:
    """The latent factors behind the generated ratings (index = position in the id arrays).

    rating = clip(round(expected score + noise), 1, 5) where noise is normal(0, noise_std) and,
    with probability disappointed_probability, also -disappointed_drop (Amazon's many 1-star
    reviews of otherwise liked titles).
    """

    customer_ids: np.ndarray
    product_ids: np.ndarray
    customer_vectors: np.ndarray
    product_vectors: np.ndarray
    customer_bias: np.ndarray
    product_bias: np.ndarray
    global_mean: float
    noise_std: float
    disappointed_probability: float
    disappointed_drop: float

    def expected_scores(self, customer_ids, product_ids) -> np.ndarray:
        """Noise-free, unclipped score for each (customer, product) pair of raw ids."""
        users = _positions(self.customer_ids, customer_ids, "customer")
        items = _positions(self.product_ids, product_ids, "product")
        interaction = np.einsum(
            "ij,ij->i", self.customer_vectors[users], self.product_vectors[items]
        )
        return self.global_mean + self.customer_bias[users] + self.product_bias[items] + interaction


@dataclass(frozen=True)
class Synthetic:
    """Clean generated rows (pyarrow table in the Amazon schema) plus the truth behind them."""

    table: pa.Table
    truth: SyntheticTruth


@dataclass(frozen=True)
class WriteCounts:
    """What `write_reviews` put into the file."""

    path: str
    format: str
    rows: int
    malformed: dict = field(default_factory=dict)

    @property
    def malformed_lines(self) -> int:
        return sum(self.malformed.values())


def generate(num_rows: int, seed: int = 0, options: GeneratorOptions = GeneratorOptions()) -> Synthetic:
    """Generate `num_rows` clean reviews deterministically from `seed`."""
    if num_rows < 1:
        raise ValueError(f"num_rows must be positive, got {num_rows}")
    rng = np.random.default_rng(seed)
    num_products = max(20, int(round(num_rows / options.rows_per_product)))
    users, items, num_customers = _sample_pairs(rng, num_rows, num_products, options)
    truth = _sample_truth(rng, num_customers, num_products, options)
    ratings = _sample_ratings(rng, truth, users, items)
    days = _sample_days(rng, users, num_customers, options)
    table = _amazon_table(rng, truth, users, items, ratings, days, num_products)
    return Synthetic(table=table, truth=truth)


def generate_reviews(num_rows: int, seed: int = 0, options: GeneratorOptions = GeneratorOptions()) -> pd.DataFrame:
    """Clean reviews as a DataFrame in the Amazon schema (ids and dates as strings)."""
    return generate(num_rows, seed, options).table.to_pandas()


def generate_truth(num_rows: int, seed: int = 0, options: GeneratorOptions = GeneratorOptions()) -> SyntheticTruth:
    """The latent factors behind `generate_reviews(num_rows, seed, options)`."""
    return generate(num_rows, seed, options).truth


def write_reviews(
    path,
    num_rows: int,
    seed: int = 0,
    malformed_rate: float = 0.001,
    format: str | None = None,
    options: GeneratorOptions = GeneratorOptions(),
) -> WriteCounts:
    """Write generated reviews to `path` (gzip if it ends in .gz) with malformed lines mixed in.

    The format defaults from the suffix (.tsv, .csv, .parquet, optionally + .gz). Malformed lines
    are extra lines, so the valid rows are exactly `generate_reviews(num_rows, seed, options)`.
    Parquet cannot hold malformed lines; for it `malformed_rate` is ignored.
    """
    path = Path(path)
    fmt = format or _format_from_suffix(path)
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")
    if not 0.0 <= malformed_rate < 1.0:
        raise ValueError(f"malformed_rate must be in [0, 1), got {malformed_rate}")
    synthetic = generate(num_rows, seed, options)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = _movielens_table(synthetic.table) if fmt == "movielens" else synthetic.table
    if fmt == "parquet":
        pq.write_table(_typed_for_parquet(table), path)
        return WriteCounts(str(path), fmt, table.num_rows, {})
    rng = np.random.default_rng([seed, 1])
    delimiter = "\t" if fmt == "tsv" else ","
    text_columns = _text_columns(table, escape_csv=delimiter == ",")
    bad_lines, malformed = _malformed_lines(rng, text_columns, table.column_names, delimiter, malformed_rate)
    _write_text(path, delimiter.join(table.column_names), text_columns, delimiter, bad_lines, rng)
    return WriteCounts(str(path), fmt, table.num_rows, malformed)


def _positions(known_ids: np.ndarray, wanted, what: str) -> np.ndarray:
    positions = pd.Index(known_ids).get_indexer(np.asarray(wanted, dtype=object))
    if (positions < 0).any():
        raise ValueError(f"unknown {what} id(s), e.g. {np.asarray(wanted)[positions < 0][:3]}")
    return positions


def _sample_pairs(rng, num_rows: int, num_products: int, options: GeneratorOptions):
    """(customer index, product index) per row, no repeated pair, in random order."""
    cap = max(1, min(options.max_reviews_per_customer, num_products // 2))
    popularity = rng.lognormal(0.0, options.product_popularity_sigma, num_products)
    cumulative = np.cumsum(popularity / popularity.sum())
    counts = np.empty(0, dtype=np.int64)
    while True:
        more = np.minimum(rng.zipf(options.customer_activity_exponent, max(16, num_rows // 2)), cap)
        counts = np.concatenate([counts, more])
        users = np.repeat(np.arange(counts.size), counts)
        items = np.minimum(np.searchsorted(cumulative, rng.random(users.size)), num_products - 1)
        _, first = np.unique(users * num_products + items, return_index=True)
        if first.size >= num_rows:
            break
    chosen = rng.permutation(first)[:num_rows]
    return users[chosen], items[chosen], counts.size


def _sample_truth(rng, num_customers: int, num_products: int, options: GeneratorOptions) -> SyntheticTruth:
    entry_std = (options.interaction_std**2 / options.rank) ** 0.25
    return SyntheticTruth(
        customer_ids=_decimal_ids(_affine(np.arange(num_customers), 48271, 12345, 10**8), 8),
        product_ids=_asins(num_products),
        customer_vectors=rng.normal(0.0, entry_std, (num_customers, options.rank)),
        product_vectors=rng.normal(0.0, entry_std, (num_products, options.rank)),
        customer_bias=rng.normal(0.0, options.customer_bias_std, num_customers),
        product_bias=rng.normal(0.0, options.product_bias_std, num_products),
        global_mean=options.global_mean,
        noise_std=options.noise_std,
        disappointed_probability=options.disappointed_probability,
        disappointed_drop=options.disappointed_drop,
    )


def _sample_ratings(rng, truth: SyntheticTruth, users: np.ndarray, items: np.ndarray) -> np.ndarray:
    interaction = np.einsum("ij,ij->i", truth.customer_vectors[users], truth.product_vectors[items])
    score = truth.global_mean + truth.customer_bias[users] + truth.product_bias[items] + interaction
    disappointed = rng.random(users.size) < truth.disappointed_probability
    noisy = score + rng.normal(0.0, truth.noise_std, users.size) - truth.disappointed_drop * disappointed
    return np.clip(np.rint(noisy), 1, 5).astype(np.int64)


def _sample_days(rng, users: np.ndarray, num_customers: int, options: GeneratorOptions) -> np.ndarray:
    """Days since 1970 per row; along a customer's rows (in row order) dates never decrease."""
    first = np.datetime64(options.first_date, "D").astype(np.int64)
    last = np.datetime64(options.last_date, "D").astype(np.int64)
    start = rng.integers(first, last + 1, num_customers)
    order = np.argsort(users, kind="stable")
    gaps = rng.geometric(1.0 / options.mean_days_between_reviews, users.size)
    gaps[rng.random(users.size) < options.same_day_probability] = 0
    sorted_users = users[order]
    group_start = np.r_[True, sorted_users[1:] != sorted_users[:-1]]
    gaps_sorted = gaps.copy()
    gaps_sorted[group_start] = 0
    running = np.cumsum(gaps_sorted)
    offset_in_group = running - np.maximum.accumulate(np.where(group_start, running, 0))
    days = np.empty(users.size, dtype=np.int64)
    days[order] = np.minimum(start[sorted_users] + offset_in_group, last)
    return days


def _amazon_table(rng, truth, users, items, ratings, days, num_products) -> pa.Table:
    n = users.size
    titles = _titles(rng, num_products)
    parents = _decimal_ids(_affine(np.arange(num_products) // 3, 7919, 104729, 9 * 10**8) + 10**8, 9)
    headline_pick = rng.integers(0, len(_HEADLINES[0]), n)
    headlines = pa.array([h for row in _HEADLINES for h in row])
    bodies = pa.array(_body_pool(rng, 2000))
    helpful = rng.geometric(0.5, n) - 1
    unique_days, day_index = np.unique(days, return_inverse=True)
    columns = {
        "marketplace": _repeat("US", n),
        "customer_id": _take(truth.customer_ids, users),
        "review_id": _review_ids(n),
        "product_id": _take(truth.product_ids, items),
        "product_parent": _take(parents, items),
        "product_title": _take(titles, items),
        "product_category": _repeat("Digital_Video_Download", n),
        "star_rating": pa.array(ratings),
        "helpful_votes": pa.array(helpful),
        "total_votes": pa.array(helpful + rng.geometric(0.6, n) - 1),
        "vine": _take(np.array(["N", "Y"]), (rng.random(n) < 0.002).astype(np.int64)),
        "verified_purchase": _take(np.array(["N", "Y"]), (rng.random(n) < 0.8).astype(np.int64)),
        "review_headline": pc.take(headlines, (ratings - 1) * len(_HEADLINES[0]) + headline_pick),
        "review_body": pc.take(bodies, rng.integers(0, len(bodies), n)),
        "review_date": _take(np.datetime_as_string(unique_days.astype("datetime64[D]")), day_index),
    }
    return pa.table(columns)


def _affine(values: np.ndarray, multiplier: int, offset: int, modulus: int) -> np.ndarray:
    """A bijection on [0, modulus) (multiplier coprime to modulus): distinct, random-looking ids."""
    return (values.astype(np.int64) * multiplier + offset) % modulus


def _digits(values: np.ndarray, width: int, alphabet: np.ndarray) -> np.ndarray:
    """(n, width) uint8 ASCII codes of `values` written in base len(alphabet), zero padded."""
    base = alphabet.size
    codes = np.empty((values.size, width), dtype=np.uint8)
    rest = values.astype(np.int64)
    for position in range(width - 1, -1, -1):
        codes[:, position] = alphabet[rest % base]
        rest = rest // base
    return codes


def _strings(*parts: np.ndarray) -> pa.Array:
    """Arrow strings from fixed-width (n, w) ASCII code blocks laid side by side, zero copy."""
    codes = np.ascontiguousarray(np.hstack(parts))
    count, width = codes.shape
    offsets = np.arange(0, count * width + 1, width, dtype=np.int32)
    return pa.StringArray.from_buffers(count, pa.py_buffer(offsets), pa.py_buffer(codes))


def _prefix(letter: str, count: int) -> np.ndarray:
    return np.full((count, 1), ord(letter), dtype=np.uint8)


def _decimal_ids(values: np.ndarray, width: int) -> np.ndarray:
    return _strings(_digits(values, width, _DECIMAL)).to_numpy(zero_copy_only=False)


def _asins(count: int) -> np.ndarray:
    body = _digits(_affine(np.arange(count), 2654435761, 987654321, 36**9), 9, _BASE36)
    return _strings(_prefix("B", count), body).to_numpy(zero_copy_only=False)


def _review_ids(count: int) -> pa.Array:
    rows = np.arange(count)
    head = _digits(rows % 36**2, 2, _BASE36)
    body = _digits(_affine(rows, 10_000_000_019, 13579, 36**11), 11, _BASE36)
    return _strings(_prefix("R", count), head, body)


def _titles(rng, count: int) -> np.ndarray:
    adjectives = rng.integers(0, len(_ADJECTIVES), count)
    nouns = rng.integers(0, len(_NOUNS), count)
    suffixes = rng.integers(0, len(_TITLE_SUFFIXES), count)
    return np.array(
        [
            f"The {_ADJECTIVES[a]} {_NOUNS[b]}{_TITLE_SUFFIXES[c]}"
            for a, b, c in zip(adjectives.tolist(), nouns.tolist(), suffixes.tolist())
        ],
        dtype=object,
    )


def _body_pool(rng, count: int) -> list[str]:
    lengths = rng.integers(3, 25, count)
    words = rng.integers(0, len(_BODY_WORDS), lengths.sum())
    bounds = np.r_[0, np.cumsum(lengths)]
    return [
        " ".join(_BODY_WORDS[w] for w in words[bounds[i]:bounds[i + 1]]).capitalize() + "."
        for i in range(count)
    ]


def _take(values: np.ndarray, indices: np.ndarray) -> pa.Array:
    return pc.take(pa.array(values, type=pa.string()), pa.array(indices))


def _repeat(value: str, count: int) -> pa.Array:
    return pa.DictionaryArray.from_arrays(
        pa.array(np.zeros(count, dtype=np.int32)), pa.array([value])
    ).cast(pa.string())


def _movielens_table(amazon: pa.Table) -> pa.Table:
    seconds = pc.cast(pc.strptime(amazon["review_date"], "%Y-%m-%d", "s"), pa.int64())
    return pa.table(
        {
            "user": amazon["customer_id"],
            "item": amazon["product_id"],
            "rating": amazon["star_rating"],
            "timestamp": pc.add(seconds, 43200),
        }
    )


def _typed_for_parquet(table: pa.Table) -> pa.Table:
    if "review_date" not in table.column_names:
        return table
    index = table.column_names.index("review_date")
    dates = pc.cast(pc.strptime(table["review_date"], "%Y-%m-%d", "s"), pa.date32())
    return table.set_column(index, "review_date", dates)


def _format_from_suffix(path: Path) -> str:
    name = path.name.lower().removesuffix(".gz")
    for fmt in ("tsv", "csv", "parquet"):
        if name.endswith("." + fmt):
            return fmt
    raise ValueError(f"cannot tell the format of {path}; use .tsv, .csv, .parquet (+ .gz) or pass format")


def _text_columns(table: pa.Table, escape_csv: bool) -> list[pa.Array]:
    columns = []
    for column in table.columns:
        text = pc.cast(column.combine_chunks(), pa.string())
        columns.append(_csv_escape(text) if escape_csv else text)
    return columns


def _csv_escape(text: pa.Array) -> pa.Array:
    needs_quotes = pc.match_substring_regex(text, '[",\n\r]')
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(text, '"', '""'), '"', "")
    return pc.if_else(needs_quotes, quoted, text)


def _malformed_lines(rng, text_columns, names, delimiter: str, rate: float):
    count = int(round(rate * len(text_columns[0])))
    kinds = rng.integers(0, len(MALFORMED_KINDS), count)
    sources = rng.integers(0, len(text_columns[0]), count)
    rows = [[column[int(s)].as_py() for column in text_columns] for s in sources]
    rating = names.index("star_rating" if "star_rating" in names else "rating")
    customer = names.index("customer_id" if "customer_id" in names else "user")
    lines = [
        delimiter.join(_corrupt(MALFORMED_KINDS[kind], fields, rating, customer, variant))
        for variant, (kind, fields) in enumerate(zip(kinds.tolist(), rows))
    ]
    return lines, {k: int((kinds == i).sum()) for i, k in enumerate(MALFORMED_KINDS) if (kinds == i).any()}


def _corrupt(kind: str, fields: list[str], rating: int, customer: int, variant: int) -> list[str]:
    fields = list(fields)
    if kind == "too_few_fields":
        return fields[:-1]
    if kind == "too_many_fields":
        return fields + ["stray extra field"]
    if kind == "rating_not_numeric":
        fields[rating] = ("five", "4 stars", "")[variant % 3]
    elif kind == "rating_out_of_range":
        fields[rating] = ("0", "6", "45")[variant % 3]
    else:
        fields[customer] = ""
    return fields


def _write_text(path: Path, header: str, columns, delimiter: str, extra: list[str], rng,
                chunk_rows: int = 250_000) -> None:
    """Write the joined lines chunk by chunk with `extra` lines at random positions.

    .gz output is a sequence of gzip members compressed on two threads (valid gzip; zlib
    releases the GIL), written in order.
    """
    num_rows = len(columns[0])
    positions = np.sort(rng.integers(0, num_rows + 1, len(extra)))
    compress = path.suffix == ".gz"
    with open(path, "wb") as out, ThreadPoolExecutor(max_workers=2) as pool:
        pending: deque = deque()
        for start in range(0, max(num_rows, 1), chunk_rows):
            stop = start + chunk_rows if start + chunk_rows < num_rows else num_rows + 1
            lo, hi = np.searchsorted(positions, [start, stop])
            lines = pc.binary_join_element_wise(*[c.slice(start, chunk_rows) for c in columns], delimiter)
            lines = _insert_lines(lines, positions[lo:hi] - start, extra[lo:hi])
            text = (header + "\n" if start == 0 else "").encode() + _string_bytes(
                pc.binary_join_element_wise(lines, pa.scalar("\n"), "")
            )
            pending.append(pool.submit(_gzip_member if compress else bytes, text))
            while len(pending) > 2:
                out.write(pending.popleft().result())
        for future in pending:
            out.write(future.result())


def _insert_lines(lines: pa.Array, positions: np.ndarray, extra: list[str]) -> pa.Array:
    """`lines` with extra[k] put before lines[positions[k]] (positions sorted)."""
    if not extra:
        return lines
    keys = np.concatenate([np.arange(len(lines)), positions - 0.5])
    combined = pa.concat_arrays([lines, pa.array(extra, type=lines.type)])
    return pc.take(combined, pa.array(np.argsort(keys, kind="stable")))


def _gzip_member(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=1, mtime=0)


def _string_bytes(strings: pa.Array) -> bytes:
    """The concatenated UTF-8 bytes of a (possibly sliced) arrow string array without nulls."""
    offsets = np.frombuffer(strings.buffers()[1], dtype=np.int32)
    start, end = offsets[strings.offset], offsets[strings.offset + len(strings)]
    return bytes(memoryview(strings.buffers()[2])[start:end])


def _parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="mfrec-generate",
        description="Write synthetic reviews (Amazon TSV schema, known latent structure).",
    )
    parser.add_argument("--rows", type=int, required=True, help="number of valid review rows")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="output file; .gz suffix compresses")
    parser.add_argument("--malformed-rate", type=float, default=0.001,
                        help="extra malformed lines per valid row (text formats only)")
    parser.add_argument("--format", choices=FORMATS, default=None,
                        help="default: from the file suffix; movielens = user,item,rating,timestamp CSV")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    try:
        counts = write_reviews(args.out, args.rows, args.seed, args.malformed_rate, args.format)
    except ValueError as error:
        print(f"mfrec-generate: {error}", file=sys.stderr)
        return 2
    print(json.dumps({"path": counts.path, "format": counts.format, "rows": counts.rows,
                      "malformed": counts.malformed}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

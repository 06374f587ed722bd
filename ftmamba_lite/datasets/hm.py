"""The H&M personalized fashion dataset (paper Section III-B), as a :class:`RecDataset`.

The data are the public files of the Kaggle competition "H&M Personalized Fashion Recommendations" (2022),
which need a Kaggle account; :func:`load_hm` reads them from a directory the user gives::

    customers.csv            customer_id, FN, Active, club_member_status, fashion_news_frequency, age, ...
    articles.csv             article_id, prod_name, ... (25 columns)
    transactions_train.csv   t_dat ("YYYY-MM-DD"), customer_id, article_id, price, sales_channel_id

Preprocessing (the paper's, with the choices it leaves open stated):

* **items** = the ``n_items`` (100) articles with the most transactions (ties: lower article_id first); the
  only item feature is the article name ``prod_name``, *categorical* (articles that share a name, e.g. two
  colours of one product, look identical to the model, as in the paper);
* **users**: ``age`` (*numeric*; missing ages are imputed with the median age of the users in the dataset)
  and ``FN``, ``Active``, ``club_member_status``, ``fashion_news_frequency`` (*categorical*; a missing value
  is a category of its own, and the two spellings "NONE" / "None" of the frequency are one category);
* **test users**: ``n_test`` (100) customers drawn at random among those who bought at least
  ``min_test_purchases`` (5) *distinct* top articles; their relevant items are the top articles they bought.
  Their transactions are kept out of the training and validation triples;
* **triples**: ``ceil((n_train + n_valid) / 2)`` transactions of the top articles by the other customers are
  drawn without replacement (a repeated purchase is a transaction of its own); each gives a positive triple
  (customer, article, 1) and a negative (customer, j, 0) with j drawn uniformly among the top articles the
  customer never bought (customers who bought all of them are skipped). The triples are shuffled and split
  into ``n_train`` training and ``n_valid`` validation triples: about half of them are positive (paper:
  160,000 triples);
* optionally only transactions on or after ``since`` (a date) are used.

Without data (``source=None`` or ``"synthetic"``) :func:`write_synthetic_hm` writes files of the same schema
(column names, dtypes, leading zeros of article ids, missing values) into a temporary directory and the same
reader loads them, so the notebooks and tests exercise the real loader. The synthetic customers' purchases
have a hidden structure the towers can learn: age, club status and the fashion-news subscription shift their
preference over the five index groups (Ladieswear, Divided, Menswear, Sport, Baby/Children), see
:data:`GROUP_EFFECTS`; within a group, articles follow a Zipf popularity (:data:`ZIPF_EXPONENT`).
"""

from __future__ import annotations

import math
import os
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from .base import FeatureTable, RecDataset, duplicate_lines, make_triples, read_csv, read_csv_chunks

__all__ = [
    "ARTICLE_COLUMNS",
    "GROUP_EFFECTS",
    "INDEX_GROUPS",
    "ITEM_CATEGORICAL",
    "USER_CATEGORICAL",
    "USER_NUMERIC",
    "load_hm",
    "read_hm",
    "write_synthetic_hm",
]

CUSTOMERS_FILE = "customers.csv"
ARTICLES_FILE = "articles.csv"
TRANSACTIONS_FILE = "transactions_train.csv"

USER_NUMERIC = ("age",)
USER_CATEGORICAL = ("FN", "Active", "club_member_status", "fashion_news_frequency")
ITEM_CATEGORICAL = ("prod_name",)
ITEM_DESCRIPTIONS = ("product_type_name", "product_group_name", "colour_group_name", "index_group_name")
"""Columns of articles.csv kept (when present) to describe the items; they are not model features."""

ARTICLE_COLUMNS = (
    "article_id",
    "product_code",
    "prod_name",
    "product_type_no",
    "product_type_name",
    "product_group_name",
    "graphical_appearance_no",
    "graphical_appearance_name",
    "colour_group_code",
    "colour_group_name",
    "perceived_colour_value_id",
    "perceived_colour_value_name",
    "perceived_colour_master_id",
    "perceived_colour_master_name",
    "department_no",
    "department_name",
    "index_code",
    "index_name",
    "index_group_no",
    "index_group_name",
    "section_no",
    "section_name",
    "garment_group_no",
    "garment_group_name",
    "detail_desc",
)
"""The 25 columns of the real articles.csv, in its order."""

CUSTOMER_COLUMNS = ("customer_id", "FN", "Active", "club_member_status", "fashion_news_frequency", "age")
TRANSACTION_COLUMNS = ("t_dat", "customer_id", "article_id")
CHUNK_ROWS = 2_000_000
"""transactions_train.csv is read in chunks of this many rows (the real file has 31.8 million)."""

# --- reading ------------------------------------------------------------------------------------------------


def _require(directory: Path, name: str) -> Path:
    path = directory / name
    if not path.is_file():
        raise FileNotFoundError(f"H&M data file {name!r} not found: {path} does not exist")
    return path


def _check_header(path: Path, columns: tuple[str, ...]) -> None:
    """ValueError naming the file and the missing columns when the CSV header lacks any of ``columns``."""
    header = read_csv(path, nrows=0).columns
    missing = [c for c in columns if c not in header]
    if missing:
        raise ValueError(f"{path.name} ({path}) lacks column(s) {missing}; it has {list(header)}")


def _to_float(series: pd.Series, column: str, file: str) -> pd.Series:
    try:
        return pd.to_numeric(series, errors="raise").astype(np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{file}: column {column!r} has non-numeric values") from err


def _article_ids(series: pd.Series, file: str) -> np.ndarray:
    """article_id strings ("0108775015", leading zero or not) -> int64; ValueError naming bad values."""
    numbers = pd.to_numeric(series, errors="coerce")
    bad = numbers.isna()
    if bad.any():
        examples = series[bad].astype(str).unique()[:3].tolist()
        raise ValueError(f"{file}: article_id values that are not integers, e.g. {examples}")
    return numbers.to_numpy(dtype=np.int64)


def _read_customers(path: Path) -> pd.DataFrame:
    _check_header(path, CUSTOMER_COLUMNS)
    frame = read_csv(
        path,
        usecols=list(CUSTOMER_COLUMNS),
        dtype={"customer_id": str, "club_member_status": str, "fashion_news_frequency": str},
    )
    if frame["customer_id"].isna().any():
        raise ValueError(
            f"{CUSTOMERS_FILE}: {int(frame['customer_id'].isna().sum())} rows lack a customer_id"
        )
    duplicated = frame["customer_id"].duplicated()
    if duplicated.any():
        where = duplicate_lines(frame["customer_id"])
        raise ValueError(f"{CUSTOMERS_FILE} ({path}): customer_id values are not unique: {where}")
    for column in ("FN", "Active", "age"):
        frame[column] = _to_float(frame[column], column, CUSTOMERS_FILE)
    frame["fashion_news_frequency"] = frame["fashion_news_frequency"].replace({"None": "NONE"})
    return frame.reset_index(drop=True)


def _read_articles(path: Path) -> pd.DataFrame:
    _check_header(path, ("article_id", *ITEM_CATEGORICAL))
    header = read_csv(path, nrows=0).columns
    columns = ["article_id", *ITEM_CATEGORICAL, *(c for c in ITEM_DESCRIPTIONS if c in header)]
    frame = read_csv(path, usecols=columns, dtype=str)
    frame["article_id"] = _article_ids(frame["article_id"], ARTICLES_FILE)
    duplicated = frame["article_id"].duplicated()
    if duplicated.any():
        where = duplicate_lines(frame["article_id"])
        raise ValueError(f"{ARTICLES_FILE} ({path}): article_id values are not unique: {where}")
    return frame.reset_index(drop=True)


def _parse_dates(values: pd.Series) -> np.ndarray:
    """ "YYYY-MM-DD" strings -> datetime64[D]; ValueError naming the file, column and bad values."""
    dates = pd.to_datetime(values, format="%Y-%m-%d", errors="coerce")
    bad = dates.isna()
    if bad.any():
        examples = values[bad].astype(str).unique()[:3].tolist()
        raise ValueError(
            f"{TRANSACTIONS_FILE}: unparseable t_dat value(s) {examples} ({int(bad.sum())} rows); "
            "expected dates as YYYY-MM-DD"
        )
    return dates.to_numpy(dtype="datetime64[D]")


def _read_transactions(
    path: Path, customer_ids: pd.Index, article_ids: pd.Index, since: np.datetime64 | None
) -> tuple[np.ndarray, np.ndarray, int]:
    """Customer and article row numbers (int64 each, one per transaction on or after ``since``), read in
    chunks; plus the number of transactions in the file. Unknown customers or articles raise ValueError."""
    _check_header(path, TRANSACTION_COLUMNS)
    customers, articles, total = [], [], 0
    reader = read_csv_chunks(path, CHUNK_ROWS, usecols=list(TRANSACTION_COLUMNS), dtype=str)
    for chunk in reader:
        total += len(chunk)
        dates = _parse_dates(chunk["t_dat"])
        keep = np.ones(len(chunk), dtype=bool) if since is None else dates >= since
        chunk = chunk[keep]
        customer = customer_ids.get_indexer(chunk["customer_id"])
        article = article_ids.get_indexer(_article_ids(chunk["article_id"], TRANSACTIONS_FILE))
        for codes, values, name, other in (
            (customer, chunk["customer_id"], "customer_id", CUSTOMERS_FILE),
            (article, chunk["article_id"], "article_id", ARTICLES_FILE),
        ):
            if (codes < 0).any():
                examples = values[codes < 0].astype(str).unique()[:3].tolist()
                raise ValueError(
                    f"{TRANSACTIONS_FILE}: {int((codes < 0).sum())} transaction(s) with a {name} missing "
                    f"from {other}, e.g. {examples}"
                )
        customers.append(customer.astype(np.int64))
        articles.append(article.astype(np.int64))
    if total == 0:
        raise ValueError(f"{TRANSACTIONS_FILE} ({path}) has no transactions")
    return np.concatenate(customers), np.concatenate(articles), total


# --- preprocessing ------------------------------------------------------------------------------------------


def _sample_negatives(
    customers: np.ndarray, bought: np.ndarray, rng: np.random.Generator, max_rounds: int = 10_000
) -> np.ndarray:
    """One item per entry of ``customers`` (int64 rows of ``bought``) drawn uniformly among the items that
    customer did not buy: ``bought`` is bool (n_customers, n_items). Rejection sampling, vectorised."""
    n_items = bought.shape[1]
    items = rng.integers(0, n_items, size=len(customers))
    redo = np.flatnonzero(bought[customers, items])
    for _ in range(max_rounds):
        if not len(redo):
            return items
        items[redo] = rng.integers(0, n_items, size=len(redo))
        redo = redo[bought[customers[redo], items[redo]]]
    raise RuntimeError("negative sampling did not finish; does some customer lack an item they did not buy?")


def _check_sizes(n_train: int, n_valid: int, n_test: int, n_items: int, min_test_purchases: int) -> None:
    """The sizes :func:`read_hm` takes, each in range; ValueError naming the first that is not."""
    for name, count in (("n_train", n_train), ("n_valid", n_valid), ("n_test", n_test)):
        if count < 0:
            raise ValueError(f"{name} must be >= 0, got {count}")
    if n_items < 2:
        raise ValueError(f"n_items must be >= 2 (a negative needs an item not bought), got {n_items}")
    if min_test_purchases < 1:
        raise ValueError(f"min_test_purchases must be >= 1, got {min_test_purchases}")


def _top_items(
    articles: pd.DataFrame, article_code: np.ndarray, n_items: int, since: str | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(purchases per article row, the ``n_items`` most purchased article rows (ties: lower article id
    first), each transaction's item index or -1 outside the catalogue)."""
    counts = np.bincount(article_code, minlength=len(articles))
    order = np.lexsort((articles["article_id"].to_numpy(), -counts))
    top = order[: min(n_items, int((counts > 0).sum()))]  # article rows, most purchased first
    if len(top) < n_items:
        raise ValueError(
            f"only {len(top)} distinct articles were bought{'' if since is None else f' since {since}'}; "
            f"n_items={n_items} needs more"
        )
    item_of_article = np.full(len(articles), -1, dtype=np.int64)
    item_of_article[top] = np.arange(n_items)
    return counts, top, item_of_article[article_code]


def _test_users_and_triples(
    t_buyer: np.ndarray,
    t_item: np.ndarray,
    bought: np.ndarray,
    n_triples: int,
    n_test: int,
    min_test_purchases: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(test buyers, then the triples' buyers, items and targets, shuffled): ``n_test`` buyers of at least
    ``min_test_purchases`` distinct top articles are set aside; half the triples are other buyers'
    transactions (target 1), half a negative each (target 0). ``bought`` (buyers, n_items)."""
    n_items = bought.shape[1]
    distinct = bought.sum(axis=1)
    eligible = np.flatnonzero(distinct >= min_test_purchases)
    if len(eligible) < n_test:
        raise ValueError(
            f"only {len(eligible)} customers bought at least {min_test_purchases} distinct articles of the "
            f"top {n_items}; n_test={n_test} test users need more"
        )
    test_buyers = np.sort(rng.choice(eligible, size=n_test, replace=False))
    is_test = np.zeros(len(bought), dtype=bool)
    is_test[test_buyers] = True
    usable = np.flatnonzero(~is_test[t_buyer] & (distinct[t_buyer] < n_items))  # transactions for triples
    n_pos_wanted = math.ceil(n_triples / 2)
    if len(usable) == 0 and n_pos_wanted > 0:
        raise ValueError(
            f"no transactions of the top {n_items} articles are left for training after setting aside the "
            f"{n_test} test users"
        )
    if len(usable) < n_pos_wanted:
        warnings.warn(
            f"only {len(usable):,} transactions are available for {n_triples:,} triples; "
            f"using {2 * len(usable):,} triples",
            stacklevel=3,
        )
    chosen = rng.choice(usable, size=min(n_pos_wanted, len(usable)), replace=False)
    pos_buyer, pos_item = t_buyer[chosen], t_item[chosen]
    neg_item = _sample_negatives(pos_buyer, bought, rng)
    pair_buyer = np.concatenate([pos_buyer, pos_buyer])
    pair_item = np.concatenate([pos_item, neg_item])
    pair_target = np.concatenate([np.ones(len(chosen)), np.zeros(len(chosen))])
    shuffle = rng.permutation(len(pair_buyer))[:n_triples]
    return test_buyers, pair_buyer[shuffle], pair_item[shuffle], pair_target[shuffle]


def _user_table(customers: pd.DataFrame) -> tuple[pd.DataFrame, int, float]:
    """(the users' feature table, ages imputed, their median): missing ages take the users' median age."""
    users = customers.reset_index(drop=True)
    imputed = int(users["age"].isna().sum())
    median_age = float(users["age"].median()) if imputed < len(users) else math.nan
    users["age"] = users["age"].fillna(median_age)
    return users[[*USER_NUMERIC, *USER_CATEGORICAL, "customer_id"]], imputed, median_age


def _read_files(
    directory: Path, since: str | None
) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray, int]:
    """(customers, articles, each used transaction's customer row and article row, the transactions in the
    file) of the three files in ``directory``; ``since`` ("YYYY-MM-DD") drops earlier transactions."""
    if not directory.is_dir():
        raise FileNotFoundError(f"H&M data directory {directory} does not exist")
    paths = {name: _require(directory, name) for name in (CUSTOMERS_FILE, ARTICLES_FILE, TRANSACTIONS_FILE)}
    since_day = None
    if since is not None:
        since_day = pd.to_datetime(since, format="%Y-%m-%d", errors="coerce")
        if pd.isna(since_day):
            raise ValueError(f"since={since!r} is not a date in the form YYYY-MM-DD")
        since_day = np.datetime64(since_day.date(), "D")
    customers = _read_customers(paths[CUSTOMERS_FILE])
    articles = _read_articles(paths[ARTICLES_FILE])
    customer_code, article_code, n_transactions = _read_transactions(
        paths[TRANSACTIONS_FILE],
        pd.Index(customers["customer_id"]),
        pd.Index(articles["article_id"]),
        since_day,
    )
    return customers, articles, customer_code, article_code, n_transactions


def _item_table(articles: pd.DataFrame, top: np.ndarray, counts: np.ndarray) -> pd.DataFrame:
    """The catalogue: the ``top`` article rows with their purchase counts and description columns."""
    items = articles.iloc[top].reset_index(drop=True)
    items["purchases"] = counts[top]
    return items[["prod_name", "article_id", "purchases", *(c for c in ITEM_DESCRIPTIONS if c in items)]]


def _purchases(
    t_customer: np.ndarray, t_item: np.ndarray, n_items: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(the customer rows that bought a top article, each transaction's buyer index, bought (buyers,
    n_items) bool)."""
    buyers, t_buyer = np.unique(t_customer, return_inverse=True)
    bought = np.zeros((len(buyers), n_items), dtype=bool)
    bought[t_buyer, t_item] = True
    return buyers, t_buyer, bought


def read_hm(
    source: str | os.PathLike,
    *,
    n_train: int = 160_000,
    n_valid: int = 1_000,
    n_test: int = 100,
    n_items: int = 100,
    min_test_purchases: int = 5,
    since: str | None = None,
    seed: int = 0,
    label: str | None = None,
) -> RecDataset:
    """Read the three competition files from the directory ``source`` and preprocess them (module docstring).

    Args:
        source: the directory holding customers.csv, articles.csv and transactions_train.csv.
        n_train, n_valid: training and validation triples (paper: 160,000 in all, about half positive).
        n_test: test users (paper: 100); min_test_purchases: distinct top articles each bought (paper: 5).
        n_items: the most purchased articles kept as the catalogue (paper: 100).
        since: use only transactions on or after this date ("YYYY-MM-DD"); None uses all.
        seed: seeds the choice of test users, the transactions drawn, the negatives and the shuffle.
        label: the ``source`` text of the result (default: the directory).

    Returns:
        A :class:`RecDataset` named ``"hm"``: users = the triples' customers (in order of their first triple),
        then the test customers; items = the top articles, most purchased first (description columns where
        the file has them); ``test_relevant`` (n_test, n_items) = bought; ``info``: article_ids, purchases,
        n_transactions, n_used (after ``since``), n_top, imputed_ages, median_age.

    Raises:
        FileNotFoundError: the directory or a file is missing (named).
        ValueError: a column is missing, an id or date does not parse, a transaction names an unknown
            customer or article, or too little is left after filtering (named).
    """
    _check_sizes(n_train, n_valid, n_test, n_items, min_test_purchases)
    directory = Path(source)
    customers, articles, customer_code, article_code, n_transactions = _read_files(directory, since)
    if len(customer_code) == 0:
        raise ValueError(f"no transactions left in {TRANSACTIONS_FILE} on or after since={since!r}")

    counts, top, item = _top_items(articles, article_code, n_items, since)
    in_top = item >= 0
    t_customer, t_item = customer_code[in_top], item[in_top]  # transactions of the top articles

    buyers, t_buyer, bought = _purchases(t_customer, t_item, n_items)
    rng = np.random.default_rng(seed)
    test_buyers, pair_buyer, pair_item, pair_target = _test_users_and_triples(
        t_buyer, t_item, bought, n_train + n_valid, n_test, min_test_purchases, rng
    )

    train_buyers = pd.unique(pair_buyer)  # in order of first triple
    user_buyers = np.concatenate([train_buyers, test_buyers]).astype(np.int64)
    row_of_buyer = np.full(len(buyers), -1, dtype=np.int64)
    row_of_buyer[user_buyers] = np.arange(len(user_buyers))
    users, imputed, median_age = _user_table(customers.iloc[buyers[user_buyers]])

    items = _item_table(articles, top, counts)
    relevant = bought[test_buyers]
    user_rows = row_of_buyer[pair_buyer]
    return RecDataset(
        name="hm",
        users=FeatureTable(users, numeric=USER_NUMERIC, categorical=USER_CATEGORICAL),
        items=FeatureTable(items, categorical=ITEM_CATEGORICAL),
        train=make_triples(user_rows[:n_train], pair_item[:n_train], pair_target[:n_train]),
        valid=make_triples(user_rows[n_train:], pair_item[n_train:], pair_target[n_train:]),
        test_users=row_of_buyer[test_buyers],
        test_relevant=relevant,
        test_targets=relevant.astype(np.float32),
        source=label or f"H&M competition files from directory {directory.absolute()}",
        info={
            "article_ids": items["article_id"].tolist(),
            "purchases": items["purchases"].tolist(),
            "n_transactions": n_transactions,
            "n_used": len(customer_code),
            "n_top": len(t_customer),
            "imputed_ages": imputed,
            "median_age": median_age,
        },  # fmt: skip
    )


def load_hm(
    source: str | os.PathLike | None = None,
    *,
    n_train: int = 160_000,
    n_valid: int = 1_000,
    n_test: int = 100,
    seed: int = 0,
    synthetic: Mapping[str, int] | None = None,
    **options: object,
) -> RecDataset:
    """The H&M dataset of paper Section III-B from the competition files, or from synthetic files.

    Args:
        source: a directory with the three competition files, or ``None`` / ``"synthetic"``: files written
            by :func:`write_synthetic_hm` (seeded with ``seed``) into a temporary directory, then read the
            same way.
        n_train, n_valid, n_test, seed: see :func:`read_hm`.
        synthetic: sizes for :func:`write_synthetic_hm` (``n_customers``, ``n_articles``,
            ``n_transactions``); by default ``n_transactions = max(20_000, 2 (n_train + n_valid))`` (enough
            top-article transactions for the triples), ``n_customers = n_transactions // 15`` and 1,000
            articles.
        options: further arguments of :func:`read_hm` (``n_items``, ``min_test_purchases``, ``since``).
    """
    if source is not None and source != "synthetic":
        return read_hm(source, n_train=n_train, n_valid=n_valid, n_test=n_test, seed=seed, **options)
    sizes = dict(synthetic or {})
    sizes.setdefault("n_transactions", max(20_000, 2 * (n_train + n_valid)))
    sizes.setdefault("n_customers", max(1_000, sizes["n_transactions"] // 15))
    with tempfile.TemporaryDirectory(prefix="ftmamba_hm_") as directory:
        write_synthetic_hm(directory, seed=seed, **sizes)
        label = f"synthetic H&M-like files (seed={seed}, {', '.join(f'{k}={v:,}' for k, v in sizes.items())})"
        return read_hm(
            directory, n_train=n_train, n_valid=n_valid, n_test=n_test, seed=seed, label=label, **options
        )


# --- the synthetic generator --------------------------------------------------------------------------------

INDEX_GROUPS = ("Ladieswear", "Divided", "Menswear", "Sport", "Baby/Children")
"""The five index groups of the articles; the synthetic customers' preferences are over these."""

GROUP_EFFECTS = pd.DataFrame(
    {
        "base": [0.8, 0.3, -0.3, -0.6, -0.2],
        "young (age < ~30)": [-0.3, 1.8, -0.5, 0.8, -1.5],
        "middle (~30 to ~45)": [0.4, -0.5, 0.0, 0.0, 1.8],
        "older (age > ~45)": [1.2, -1.5, 1.0, -0.5, 0.3],
        "PRE-CREATE club": [-0.6, 0.2, 0.0, 1.8, 0.0],
        "LEFT CLUB / missing club": [0.0, 0.0, 1.5, 0.0, 0.0],
        "FN = 1 (news subscriber)": [0.8, 0.4, -0.4, -0.2, -0.4],
    },
    index=list(INDEX_GROUPS),
).T
"""Log-odds of a synthetic customer's purchase per index group (columns), summed over the rows that apply:
``logit[g] = base + w_young(age) young + w_middle(age) middle + w_older(age) older + club + FN``, with
``w_young = sigmoid((30 - age) / 4)``, ``w_older = sigmoid((age - 45) / 5)``, ``w_middle = 1 - w_young -
w_older`` (clipped at 0); a missing age counts as 35. The group of each purchase is drawn from
``softmax(logit)``."""

_TYPES = (  # product_type_name, product_type_no, product_group_name, garment_group_name, garment_group_no
    ("Trousers", 272, "Garment Lower body", "Trousers", 1009),
    ("T-shirt", 255, "Garment Upper body", "Jersey Basic", 1002),
    ("Dress", 265, "Garment Full body", "Dresses Ladies", 1013),
    ("Sweater", 252, "Garment Upper body", "Knitwear", 1003),
    ("Vest top", 253, "Garment Upper body", "Jersey Fancy", 1005),
    ("Blouse", 258, "Garment Upper body", "Blouses", 1010),
    ("Jacket", 264, "Garment Upper body", "Outdoor", 1006),
    ("Bra", 306, "Underwear", "Under-, Nightwear", 1017),
    ("Socks", 302, "Socks & Tights", "Socks and Tights", 1021),
    ("Sneakers", 94, "Shoes", "Shoes", 1020),
    ("Bag", 66, "Accessories", "Accessories", 1019),
    ("Swimsuit", 59, "Swimwear", "Swimwear", 1018),
    ("Pyjama set", 298, "Nightwear", "Under-, Nightwear", 1017),
    ("Shorts", 274, "Garment Lower body", "Shorts", 1025),
)
_ADJECTIVES = (
    "Strap", "Basic", "Slim", "Relaxed", "Cropped", "Wide", "Soft", "Linen", "Denim", "Ribbed",
    "Oversized", "Padded", "Printed", "Classic", "Summer", "Winter", "Cotton", "Jersey", "Lace", "Fleece",
    "Pleated", "Tie", "Sport", "Chino", "Cargo", "Knit", "Silk", "Velour", "Mom", "Skinny",
)  # fmt: skip
_APPEARANCE = ((1010016, "Solid"), (1010001, "All over pattern"), (1010017, "Stripe"), (1010010, "Melange"))
_COLOURS = (  # colour_group_code, colour_group_name, perceived_colour_master_id, perceived_colour_master_name
    (9, "Black", 5, "Black"),
    (10, "White", 9, "White"),
    (73, "Dark Blue", 2, "Blue"),
    (13, "Beige", 11, "Beige"),
    (7, "Grey", 12, "Grey"),
    (72, "Blue", 2, "Blue"),
    (42, "Red", 18, "Red"),
    (52, "Pink", 4, "Pink"),
    (19, "Greenish Khaki", 20, "Khaki green"),
    (17, "Yellowish Brown", 3, "Brown"),
)
_COLOUR_VALUES = ((4, "Dark"), (3, "Light"), (1, "Dusty Light"), (2, "Medium Dusty"), (5, "Bright"))
_INDEXES = {  # index group -> (index_group_no, [(index_code, index_name, section_no, section_name)])
    "Ladieswear": (1, [("A", "Ladieswear", 16, "Womens Everyday Collection"), ("B", "Lingeries/Tights", 61,
                                                                              "Womens Lingerie")]),
    "Divided": (2, [("D", "Divided", 53, "Divided Collection"), ("D", "Divided", 52, "Divided Basics")]),
    "Menswear": (3, [("F", "Menswear", 21, "Contemporary Casual"), ("F", "Menswear", 26, "Men Underwear")]),
    "Sport": (26, [("S", "Sport", 5, "Ladies H&M Sport"), ("S", "Sport", 4, "Men H&M Sport")]),
    "Baby/Children": (4, [("G", "Baby Sizes 50-98", 44, "Baby Girl"), ("H", "Children Sizes 92-140", 77,
                                                                        "Young Girl")]),
}  # fmt: skip
_CLUB = ("ACTIVE", "PRE-CREATE", "LEFT CLUB", None)
_CLUB_P = (0.925, 0.068, 0.003, 0.004)
FIRST_DAY, LAST_DAY = np.datetime64("2018-09-20"), np.datetime64("2020-09-22")
ZIPF_EXPONENT = 0.8
"""Popularity of the synthetic articles within their index group: weight 1 / rank^ZIPF_EXPONENT."""


def _hex_ids(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` random 64-character hexadecimal strings (the anonymised ids of the real files)."""
    raw = rng.bytes(32 * n).hex()
    return np.array([raw[64 * i : 64 * (i + 1)] for i in range(n)], dtype=object)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _synthetic_customers(rng: np.random.Generator, n: int) -> pd.DataFrame:
    young = rng.random(n) < 0.55
    age = np.where(young, rng.normal(25, 4, n), rng.normal(50, 10, n))
    age = np.clip(np.round(age), 16, 99)
    age[rng.random(n) < 0.012] = np.nan
    fn = rng.random(n) < 0.35
    active = np.where(fn, rng.random(n) < 0.95, rng.random(n) < 0.01)
    frequency = np.where(
        fn,
        rng.choice(np.array(["Regularly", "Monthly", "NONE"], dtype=object), n, p=[0.97, 0.02, 0.01]),
        rng.choice(np.array(["NONE", "None", None], dtype=object), n, p=[0.975, 0.01, 0.015]),
    )
    club = np.array(_CLUB, dtype=object)[rng.choice(len(_CLUB), n, p=_CLUB_P)]
    postal = _hex_ids(rng, max(1, n // 4))
    return pd.DataFrame(
        {
            "customer_id": _hex_ids(rng, n),
            "FN": np.where(fn, 1.0, np.nan),
            "Active": np.where(active, 1.0, np.nan),
            "club_member_status": club,
            "fashion_news_frequency": frequency,
            "age": age,
            "postal_code": postal[rng.integers(0, len(postal), n)],
        }
    )


def _group_logits(customers: pd.DataFrame) -> np.ndarray:
    """(n_customers, 5) log-odds of :data:`GROUP_EFFECTS` for the customers' age, club and FN."""
    age = customers["age"].fillna(35.0).to_numpy()
    w_young, w_older = _sigmoid((30 - age) / 4), _sigmoid((age - 45) / 5)
    w_middle = np.clip(1 - w_young - w_older, 0, None)
    effects = GROUP_EFFECTS.to_numpy()  # (7, 5)
    club = customers["club_member_status"]
    weights = np.column_stack(
        [
            np.ones(len(age)),
            w_young,
            w_middle,
            w_older,
            (club == "PRE-CREATE").to_numpy(),
            (club.isna() | (club == "LEFT CLUB")).to_numpy(),
            (customers["FN"] == 1.0).to_numpy(),
        ]
    )
    return weights @ effects


def _synthetic_articles(rng: np.random.Generator, n: int) -> pd.DataFrame:
    n_products = max(1, n // 3)
    codes = np.sort(rng.choice(np.arange(108_775, 959_462), size=n_products, replace=False))
    product = np.sort(np.concatenate([np.arange(n_products), rng.integers(0, n_products, n - n_products)]))
    variant = np.concatenate([np.arange(c) for c in np.bincount(product, minlength=n_products)]) + 1
    group = rng.integers(0, len(INDEX_GROUPS), n_products)[product]
    kind = rng.integers(0, len(_TYPES), n_products)[product]
    names = np.array([f"{a} {t[0].lower()}" for a in _ADJECTIVES for t in _TYPES], dtype=object)
    name_of = rng.integers(0, len(_ADJECTIVES), n_products)[product] * len(_TYPES) + kind
    colour = rng.integers(0, len(_COLOURS), n)
    value = rng.integers(0, len(_COLOUR_VALUES), n)
    appearance = rng.integers(0, len(_APPEARANCE), n)
    which_index = rng.integers(0, 2, n_products)[product]
    rows = []
    for i in range(n):
        t, c, g = _TYPES[kind[i]], _COLOURS[colour[i]], INDEX_GROUPS[group[i]]
        group_no, indexes = _INDEXES[g]
        index_code, index_name, section_no, section_name = indexes[which_index[i]]
        rows.append(
            (
                codes[product[i]] * 1000 + variant[i],
                codes[product[i]],
                names[name_of[i]],
                t[1],
                t[0],
                t[2],
                *_APPEARANCE[appearance[i]],
                c[0],
                c[1],
                *_COLOUR_VALUES[value[i]],
                c[2],
                c[3],
                1000 + 10 * group[i] + kind[i] % 10,
                f"{g} {t[3]}",
                index_code,
                index_name,
                group_no,
                g,
                section_no,
                section_name,
                t[4],
                t[3],
                f"{names[name_of[i]]} in {c[1].lower()} {_APPEARANCE[appearance[i]][1].lower()} fabric.",
            )
        )
    frame = pd.DataFrame(rows, columns=list(ARTICLE_COLUMNS))
    frame.loc[rng.random(n) < 0.004, "detail_desc"] = None
    return frame


def write_synthetic_hm(
    directory: str | os.PathLike,
    seed: int = 0,
    n_customers: int = 20_000,
    n_articles: int = 1_000,
    n_transactions: int = 300_000,
) -> dict[str, Path]:
    """Write customers.csv, articles.csv and transactions_train.csv in the competition's schema.

    Schema as in the real files (``shared/data/hm/SCHEMA.md``): 64-hex customer ids and postal codes; FN and
    Active 1.0 or empty; club_member_status ACTIVE / PRE-CREATE / LEFT CLUB / empty; fashion_news_frequency
    NONE / None / Regularly / Monthly / empty; ages 16-99 with ~1% empty; the 25 article columns with
    article_id written with a leading zero ("0108775015") and detail_desc sometimes empty; transactions
    sorted by t_dat (2018-09-20 to 2020-09-22) with price and sales_channel_id (1 or 2).

    Purchases: a customer is drawn with probability proportional to a log-normal activity (so some buy
    often and repeat purchases occur); the article's index group from the customer's preferences
    (:data:`GROUP_EFFECTS`); the article within the group with Zipf weights 1 / rank^:data:`ZIPF_EXPONENT`.

    Args:
        directory: created if needed; existing files of these names are overwritten.
        seed: makes the files identical byte for byte on every run.
        n_customers, n_articles, n_transactions: sizes (real: 1,371,980, 105,542, 31,788,324).

    Returns:
        ``{file name: path}`` of the three files written.
    """
    for name, count in (
        ("n_customers", n_customers),
        ("n_articles", n_articles),
        ("n_transactions", n_transactions),
    ):
        if count < 1:
            raise ValueError(f"{name} must be >= 1, got {count}")
    rng = np.random.default_rng(seed)
    customers = _synthetic_customers(rng, n_customers)
    articles = _synthetic_articles(rng, n_articles)

    logits = _group_logits(customers)
    prefs = np.exp(logits - logits.max(axis=1, keepdims=True))
    prefs /= prefs.sum(axis=1, keepdims=True)
    activity = rng.lognormal(0.0, 1.0, n_customers)
    buyer = rng.choice(n_customers, size=n_transactions, p=activity / activity.sum())
    cdf = prefs.cumsum(axis=1)[buyer]
    group = (rng.random((n_transactions, 1)) > cdf).sum(axis=1).clip(max=len(INDEX_GROUPS) - 1)
    article_group = articles["index_group_name"].map({g: i for i, g in enumerate(INDEX_GROUPS)}).to_numpy()
    article = np.empty(n_transactions, dtype=np.int64)
    for g in range(len(INDEX_GROUPS)):
        members = rng.permutation(np.flatnonzero(article_group == g))
        where = np.flatnonzero(group == g)
        if not len(members):  # a tiny catalogue without this group: buy from the whole catalogue
            members = np.arange(n_articles)
        weights = 1.0 / np.arange(1, len(members) + 1) ** ZIPF_EXPONENT
        article[where] = members[rng.choice(len(members), size=len(where), p=weights / weights.sum())]
    days = (LAST_DAY - FIRST_DAY).astype(int)
    day = np.sort(rng.integers(0, days + 1, n_transactions))
    base_price = np.clip(rng.lognormal(np.log(0.025), 0.6, n_articles), 0.00002, 0.6)
    discount = np.where(rng.random(n_transactions) < 0.2, 0.7, 1.0)
    transactions = pd.DataFrame(
        {
            "t_dat": (FIRST_DAY + day).astype(str),
            "customer_id": customers["customer_id"].to_numpy()[buyer],
            "article_id": np.array([f"{a:010d}" for a in articles["article_id"]], dtype=object)[article],
            "price": base_price[article] * discount,
            "sales_channel_id": np.where(rng.random(n_transactions) < 0.7, 2, 1),
        }
    )
    articles_out = articles.assign(
        article_id=[f"{a:010d}" for a in articles["article_id"]],
        product_code=[f"{p:07d}" for p in articles["product_code"]],
    )
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: folder / name for name in (CUSTOMERS_FILE, ARTICLES_FILE, TRANSACTIONS_FILE)}
    customers.to_csv(paths[CUSTOMERS_FILE], index=False)
    articles_out.to_csv(paths[ARTICLES_FILE], index=False)
    transactions.to_csv(paths[TRANSACTIONS_FILE], index=False)
    return paths

"""The vaccine messaging environment (paper Section III-C), as a :class:`RecDataset`.

A synthetic environment: which short message encouraging COVID-19 vaccination should a person receive?

* **Users**: ``age`` (*numeric*) and seven *categorical* features ``gender``, ``progression`` (the person's
  stage of readiness to vaccinate), ``education``, ``insurance``, ``race``, ``language``, ``religion``, each
  drawn independently from the distributions of :data:`USER_DISTRIBUTIONS` (age: normal with mean 45 and
  standard deviation 17, rounded and clipped to 18..90).
* **Messages**: the 100 messages of ``ftmamba_lite/resources/vaccine_messages.csv``, written for this package
  (10 themes x 10 messages; the paper's were written by ChatGPT), or a CSV of your own with a ``text``
  column. ``messages`` of them (25, 50 or 100) are drawn for each seed. A message is represented by its
  *index* (a categorical feature, the paper's finding), optionally also or instead by *text features*: the
  TF-IDF vectors of the texts (scikit-learn) reduced to :data:`TEXT_DIMENSIONS` dimensions by a truncated
  SVD and scaled to unit length (the paper used 768-dimensional Instructor embeddings).
* **Clusters**: k-means (scikit-learn) with k = ``clusters`` groups the users (on their one-hot categorical
  features and standardised age; fitted on up to :data:`KMEANS_FIT_USERS` users, then applied to all) and,
  separately, the drawn messages (on their text features). User cluster c and message cluster c *match*.
  k-means labels are arbitrary, so this pairs user and message clusters at random, once per seed.
* **Targets**: a (user, message) pair has target 1 with probability ``p_match`` (default 0.9) when their
  clusters match and ``p_other`` (default 0.1) otherwise, else 0.
* **Splits**: ``n_train`` + ``n_valid`` pairs of a uniformly drawn user of the ``n_users`` (50,000) and a
  uniformly drawn message (duplicates possible; paper: 160,000 training pairs); ``n_test`` (100) further users
  whose relevant messages are those of the matching cluster (the messages most likely to prompt
  vaccination): about ``messages / clusters`` each, at least one. ``test_targets`` holds the probabilities
  of target 1 (``p_match`` or ``p_other``).

The paper's grid (its Table II) is :data:`VACCINE_GRID`: (clusters, messages) in (25, 25), (25, 50),
(25, 100), (50, 50), (50, 100), (100, 100), trained with learning rate 1e-5.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from .base import FeatureTable, RecDataset, duplicate_lines, make_triples, read_csv

__all__ = [
    "CLUSTER_CHOICES",
    "ITEM_FEATURE_CHOICES",
    "TEXT_DIMENSIONS",
    "USER_CATEGORICAL",
    "USER_DISTRIBUTIONS",
    "VACCINE_GRID",
    "cluster_messages",
    "cluster_users",
    "load_vaccine",
    "message_text_features",
    "read_messages",
    "sample_vaccine_users",
]

USER_DISTRIBUTIONS: dict[str, dict[str, float]] = {
    "gender": {"female": 0.51, "male": 0.47, "non-binary": 0.02},
    "progression": {
        "not considering": 0.20,
        "considering": 0.25,
        "preparing": 0.15,
        "partially vaccinated": 0.15,
        "fully vaccinated": 0.25,
    },
    "education": {
        "less than high school": 0.10,
        "high school": 0.27,
        "some college": 0.28,
        "bachelor's degree": 0.22,
        "graduate degree": 0.13,
    },
    "insurance": {"private": 0.55, "medicare": 0.18, "medicaid": 0.17, "uninsured": 0.10},
    "race": {"white": 0.60, "hispanic": 0.19, "black": 0.12, "asian": 0.06, "other": 0.03},
    "language": {"english": 0.78, "spanish": 0.13, "chinese": 0.03, "other": 0.06},
    "religion": {"christian": 0.63, "none": 0.29, "jewish": 0.02, "muslim": 0.01, "other": 0.05},
}
"""The categorical user features and the probability of each value (independent draws)."""

USER_NUMERIC = ("age",)
USER_CATEGORICAL = tuple(USER_DISTRIBUTIONS)
AGE_MEAN, AGE_STD, AGE_RANGE = 45.0, 17.0, (18, 90)
CLUSTER_CHOICES = (25, 50, 100)
VACCINE_GRID = ((25, 25), (25, 50), (25, 100), (50, 50), (50, 100), (100, 100))
"""(clusters, messages) of the paper's Table II."""
ITEM_FEATURE_CHOICES = ("index", "text", "both")
TEXT_DIMENSIONS = 32
KMEANS_FIT_USERS = 10_000
MESSAGES_FILE = "resources/vaccine_messages.csv"


def read_messages(source: str | os.PathLike | None = None) -> pd.DataFrame:
    """The messages: the package's 100 (``source=None``) or a CSV with a ``text`` column.

    Returns a frame with columns ``message_id`` (0..n-1, the row), ``text`` and ``theme`` (empty strings when
    the CSV has none). ValueError naming the file for a missing ``text`` column, empty or duplicate texts.
    """
    if source is None or source == "synthetic":
        with resources.files("ftmamba_lite").joinpath(MESSAGES_FILE).open() as f:
            frame, name = pd.read_csv(f, dtype=str), MESSAGES_FILE
    else:
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"vaccine messages file {path} does not exist")
        frame, name = read_csv(path, dtype=str), str(path)
    if "text" not in frame.columns:
        raise ValueError(f"{name} lacks the column 'text'; it has {list(frame.columns)}")
    texts = frame["text"].fillna("").str.strip()
    if (texts == "").any():
        raise ValueError(f"{name}: {int((texts == '').sum())} message(s) have an empty text")
    if texts.duplicated().any():
        raise ValueError(f"{name}: duplicate message texts: {duplicate_lines(texts)}")
    theme = frame["theme"].fillna("") if "theme" in frame.columns else pd.Series([""] * len(frame))
    return pd.DataFrame(
        {"message_id": np.arange(len(frame)), "text": texts.to_numpy(), "theme": theme.to_numpy()}
    )


def message_text_features(texts: list[str], dimensions: int = TEXT_DIMENSIONS) -> np.ndarray:
    """Text features of the messages: TF-IDF (English stop words removed, sublinear term frequency) then a
    truncated SVD to ``dimensions`` (at most n_messages - 1) and unit row length: float64 (n, dimensions).
    Deterministic (the SVD is seeded)."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import normalize

    if len(texts) < 2:
        raise ValueError(f"text features need at least 2 messages, got {len(texts)}")
    tfidf = TfidfVectorizer(stop_words="english", sublinear_tf=True).fit_transform(texts)
    dims = min(dimensions, len(texts) - 1, tfidf.shape[1] - 1)
    reduced = TruncatedSVD(n_components=dims, random_state=0).fit_transform(tfidf)
    return normalize(reduced)


def sample_vaccine_users(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """``n`` users: ``age`` (float) and the categorical columns of :data:`USER_DISTRIBUTIONS` (str)."""
    age = np.clip(np.round(rng.normal(AGE_MEAN, AGE_STD, n)), *AGE_RANGE)
    columns: dict[str, np.ndarray] = {"age": age.astype(np.float64)}
    for name, distribution in USER_DISTRIBUTIONS.items():
        values = np.array(list(distribution), dtype=object)
        columns[name] = values[rng.choice(len(values), size=n, p=list(distribution.values()))]
    return pd.DataFrame(columns)


def _user_matrix(users: pd.DataFrame) -> np.ndarray:
    """Users as k-means sees them: standardised age, then one 0/1 column per categorical value."""
    age = users["age"].to_numpy(dtype=np.float64)
    blocks = [((age - AGE_MEAN) / AGE_STD)[:, None]]
    for name, distribution in USER_DISTRIBUTIONS.items():
        blocks.append((users[name].to_numpy()[:, None] == np.array(list(distribution))).astype(np.float64))
    return np.hstack(blocks)


def cluster_users(users: pd.DataFrame, clusters: int, seed: int) -> np.ndarray:
    """k-means cluster (int64, 0..clusters-1) of every user; fitted on the first :data:`KMEANS_FIT_USERS`."""
    from sklearn.cluster import KMeans

    matrix = _user_matrix(users)
    fit_rows = matrix[:KMEANS_FIT_USERS]
    if len(fit_rows) < clusters:
        raise ValueError(
            f"k-means with {clusters} clusters needs at least {clusters} users, got {len(fit_rows)}"
        )
    model = KMeans(n_clusters=clusters, n_init=1, random_state=seed).fit(fit_rows)
    return model.predict(matrix).astype(np.int64)


def cluster_messages(features: np.ndarray, clusters: int, seed: int) -> np.ndarray:
    """k-means cluster (int64, 0..clusters-1) of every message from its text features (n, dims); with as
    many clusters as messages every message is a cluster of its own."""
    from sklearn.cluster import KMeans

    if len(features) < clusters:
        raise ValueError(
            f"k-means with {clusters} clusters needs at least {clusters} messages, got {len(features)}"
        )
    if len(features) == clusters:
        return np.arange(clusters, dtype=np.int64)
    return KMeans(n_clusters=clusters, n_init=10, random_state=seed).fit_predict(features).astype(np.int64)


def _check_options(
    n_train: int, n_valid: int, n_test: int, p_match: float, p_other: float, item_features: str, clusters: int
) -> None:
    """The options of :func:`load_vaccine` that need no data, each in range; ValueError naming the first."""
    for name, count in (("n_train", n_train), ("n_valid", n_valid), ("n_test", n_test)):
        if count < 0:
            raise ValueError(f"{name} must be >= 0, got {count}")
    if not 0 <= p_other <= 1 or not 0 <= p_match <= 1:
        raise ValueError(f"p_match and p_other must be probabilities, got {p_match} and {p_other}")
    if item_features not in ITEM_FEATURE_CHOICES:
        raise ValueError(f"item_features must be one of {ITEM_FEATURE_CHOICES}, got {item_features!r}")
    if clusters < 1:
        raise ValueError(f"clusters must be >= 1, got {clusters}")


def _message_table(
    drawn: pd.DataFrame, features: np.ndarray, item_features: str
) -> tuple[pd.DataFrame, tuple[str, ...], tuple[str, ...]]:
    """(the item table, its numeric and its categorical feature columns) of the drawn messages: the message
    index as a category and / or the text features (messages, n_features) as numeric columns."""
    items = drawn.reset_index(drop=True).rename(columns={"message_id": "message"})
    numeric: tuple[str, ...] = ()
    if item_features in ("text", "both"):
        numeric = tuple(f"text_{j}" for j in range(features.shape[1]))
        items = pd.concat([items, pd.DataFrame(features, columns=list(numeric))], axis=1)
    categorical = ("message",) if item_features in ("index", "both") else ()
    return items, numeric, categorical


def _pairs(
    rng: np.random.Generator,
    n_users: int,
    messages: int,
    n: int,
    user_clusters: np.ndarray,
    message_clusters: np.ndarray,
    probabilities: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` (user, message, target) pairs drawn uniformly: the target is 1 with probability ``p_match`` when
    the user's and the message's clusters match, ``p_other`` when they do not (``probabilities``)."""
    p_match, p_other = probabilities
    pair_user = rng.integers(0, n_users, size=n)
    pair_item = rng.integers(0, messages, size=n)
    match = user_clusters[pair_user] == message_clusters[pair_item]
    return pair_user, pair_item, rng.random(n) < np.where(match, p_match, p_other)


def load_vaccine(
    source: str | os.PathLike | None = None,
    *,
    clusters: int = 25,
    messages: int = 25,
    n_users: int = 50_000,
    n_train: int = 160_000,
    n_valid: int = 1_000,
    n_test: int = 100,
    p_match: float = 0.9,
    p_other: float = 0.1,
    item_features: str = "index",
    seed: int = 0,
) -> RecDataset:
    """The vaccine messaging dataset of paper Section III-C (construction: module docstring).

    Args:
        source: ``None`` / ``"synthetic"`` for the package's 100 messages, or a CSV file with a ``text``
            column.
        clusters: k of the k-means clusterings (paper: 25, 50, 100; any k from 1 to ``messages`` works).
        messages: messages drawn for this seed (paper: 25, 50, 100; at most the number in ``source``).
        n_users: users the training and validation pairs draw from (paper: 50,000).
        n_train, n_valid: (user, message, target) pairs (paper: 160,000 training pairs).
        n_test: test users (paper: 100), drawn in addition to the ``n_users``.
        p_match, p_other: probability of target 1 for a pair whose clusters match / do not match.
        item_features: ``"index"`` (the message index, categorical: the paper's choice), ``"text"`` (the
            :func:`message_text_features`, numeric) or ``"both"``.
        seed: seeds the users, the messages drawn, both k-means and the pairs.

    Returns:
        A :class:`RecDataset` named ``"vaccine"``: users = the ``n_users`` pool then the test users; items =
        the drawn messages (``message``, ``text``, ``theme``, and ``text_0`` ... for text features);
        ``info``: the user and message clusters, ``message_ids``, the sizes and probabilities.
    """
    _check_options(n_train, n_valid, n_test, p_match, p_other, item_features, clusters)
    library = read_messages(source)
    if not clusters <= messages <= len(library):
        raise ValueError(
            f"need clusters <= messages <= {len(library)} (the messages available), got clusters={clusters}, "
            f"messages={messages}"
        )
    if n_users < clusters:
        raise ValueError(f"n_users={n_users} is fewer than clusters={clusters}")
    rng = np.random.default_rng(seed)
    users = sample_vaccine_users(n_users + n_test, rng)
    user_clusters = cluster_users(users, clusters, seed)
    chosen = np.sort(rng.choice(len(library), size=messages, replace=False))
    features = message_text_features(library["text"].tolist())[chosen]
    message_clusters = cluster_messages(features, clusters, seed)

    pair_user, pair_item, pair_target = _pairs(
        rng, n_users, messages, n_train + n_valid, user_clusters, message_clusters, (p_match, p_other)
    )
    test_users = np.arange(n_users, n_users + n_test, dtype=np.int64)
    test_match = user_clusters[test_users][:, None] == message_clusters[None, :]

    items, numeric, categorical = _message_table(library.iloc[chosen], features, item_features)
    return RecDataset(
        name="vaccine",
        users=FeatureTable(users, numeric=USER_NUMERIC, categorical=USER_CATEGORICAL),
        items=FeatureTable(items, numeric=numeric, categorical=categorical),
        train=make_triples(pair_user[:n_train], pair_item[:n_train], pair_target[:n_train]),
        valid=make_triples(pair_user[n_train:], pair_item[n_train:], pair_target[n_train:]),
        test_users=test_users,
        test_relevant=test_match,
        test_targets=np.where(test_match, p_match, p_other).astype(np.float32),
        source=(
            f"synthetic vaccine messaging environment (seed={seed}, {clusters} clusters, {messages} of "
            f"{len(library)} messages from {'the package' if source in (None, 'synthetic') else source})"
        ),
        info={
            "user_clusters": user_clusters,
            "message_clusters": message_clusters,
            "message_ids": chosen,
            "clusters": clusters,
            "messages": messages,
            "p_match": p_match,
            "p_other": p_other,
        },
    )

"""Synthetic data files shared by the tests and the benchmarks (seeded, written on demand, never
kept in the repository)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv


def generate_csv(path: Path, rows: int, seed: int = 0) -> None:
    """ML-20M-like: 138,493 users, 26,744 items (ids up to 131,262), half-star ratings,
    unix-second timestamps 1995-2015; written in 1M-row chunks."""
    rng = np.random.default_rng(seed)
    item_ids = np.sort(rng.choice(np.arange(1, 131_263), size=26_744, replace=False))
    options = pacsv.WriteOptions(include_header=True)
    with pacsv.CSVWriter(
        str(path),
        pa.schema(
            [
                ("userId", pa.int64()),
                ("movieId", pa.int64()),
                ("rating", pa.float64()),
                ("timestamp", pa.int64()),
            ]
        ),
        write_options=options,
    ) as writer:
        for start in range(0, rows, 1_000_000):
            n = min(1_000_000, rows - start)
            writer.write_table(
                pa.table(
                    {
                        "userId": rng.integers(1, 138_494, n),
                        # popular items more often (u^2 skew), few duplicated pairs
                        "movieId": item_ids[(len(item_ids) * rng.random(n) ** 2).astype(int)],
                        "rating": rng.integers(1, 11, n) / 2.0,
                        "timestamp": rng.integers(789_652_009, 1_427_784_002, n),
                    }
                )
            )


# A shop, shaped unlike MovieLens (issue 21): string item ids, renamed rating columns and metadata
# of every type. Each customer's region sets the category it buys from most and rates highest, so
# clusters can agree with category (items) and region (users); tier is noise.
CATEGORIES = ("kitchen", "garden", "toys", "tools")
TAGS = ("eco", "sale", "new", "gift", "bulk", "imported")
REGIONS = ("north", "south", "east", "west")
TIERS = ("bronze", "silver", "gold")
WORDS = ("sturdy", "compact", "quiet", "bright", "washable", "foldable", "light", "classic")


def shop_files(folder: Path, customers: int = 120, products: int = 160, seed: int = 0) -> dict:
    """Writes a product-review dataset into `folder` and returns its paths ("ratings",
    "products", "customers"):

    - reviews.csv: customer_id, sku ("SKU-0001", not a recognised item column name), stars
      (1-5), ts (unix seconds); about 30 ratings per customer, 20 in its region's category.
    - products.csv: sku, name, category (categorical), tags (multi-valued, "eco|sale"), price
      (numeric), description (free text, with commas).
    - customers.csv: customer_id, region (categorical), tier (categorical).
    """
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    skus = [f"SKU-{i:04d}" for i in range(1, products + 1)]
    category = [CATEGORIES[i % len(CATEGORIES)] for i in range(products)]
    region = [REGIONS[c % len(REGIONS)] for c in range(customers)]
    rows = []
    for customer in range(customers):
        liked = CATEGORIES[REGIONS.index(region[customer])]
        own = np.flatnonzero(np.array(category) == liked)
        other = np.flatnonzero(np.array(category) != liked)
        chosen = np.concatenate([rng.choice(own, 20, replace=False), rng.choice(other, 10)])
        for item in np.unique(chosen):
            mean = 4.3 if category[item] == liked else 2.3
            stars = int(np.clip(round(mean + rng.normal(0, 0.6)), 1, 5))
            ts = 1_600_000_000 + int(rng.integers(0, 30_000_000))
            rows.append(f"{customer + 1},{skus[item]},{stars},{ts}")
    paths = {"ratings": folder / "reviews.csv"}
    paths["ratings"].write_text("customer_id,sku,stars,ts\n" + "\n".join(rows) + "\n")
    lines = ["sku,name,category,tags,price,description"]
    for i, sku in enumerate(skus):
        tags = "|".join(rng.choice(TAGS, int(rng.integers(1, 4)), replace=False))
        words = rng.choice(WORDS, 3, replace=False)
        text = f'"{words[0]}, {words[1]} and {words[2]} {category[i]} item no. {i + 1}"'
        price = round(float(rng.uniform(2, 400)), 2)
        lines.append(f"{sku},Product {i + 1},{category[i]},{tags},{price},{text}")
    paths["products"] = folder / "products.csv"
    paths["products"].write_text("\n".join(lines) + "\n")
    people = [f"{c + 1},{region[c]},{TIERS[int(rng.integers(0, 3))]}" for c in range(customers)]
    paths["customers"] = folder / "customers.csv"
    paths["customers"].write_text("customer_id,region,tier\n" + "\n".join(people) + "\n")
    return paths


ML20M_USERS, ML20M_ITEMS = 138_493, 26_744  # MovieLens 20M's counts
GENRES = ("Action", "Comedy", "Drama", "Horror", "Romance", "Sci-Fi", "Thriller", "Animation")


def ml20m_shaped(folder: Path, per_user: int = 5, seed: int = 0) -> dict:
    """A run's input with ML-20M's shape where the map is concerned: every one of its 138,493
    users and 26,744 items rated (each user `per_user` times, popular items more often, every
    item at least once), with a movies.csv of titles and genres; few ratings, so that training
    is quick (the map's size depends on the users and items, not on the ratings). Returns the
    paths ("ratings", "items")."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    item_ids = np.sort(rng.choice(np.arange(1, 131_263), size=ML20M_ITEMS, replace=False))
    users = np.repeat(np.arange(1, ML20M_USERS + 1), per_user)
    items = item_ids[(ML20M_ITEMS * rng.random(len(users)) ** 2).astype(int)]
    every_item = rng.integers(1, ML20M_USERS + 1, ML20M_ITEMS)  # a rater for each item
    ratings = pa.table(
        {
            "userId": np.concatenate([users, every_item]),
            "movieId": np.concatenate([items, item_ids]),
            "rating": rng.integers(1, 11, len(users) + ML20M_ITEMS) / 2.0,
        }
    )
    genres = np.array(GENRES)[rng.integers(0, len(GENRES), (ML20M_ITEMS, 2))]
    movies = pa.table(
        {
            "movieId": item_ids,
            "title": [f"Movie {i} ({1950 + i % 65})" for i in item_ids],
            "genres": ["|".join(sorted(set(pair))) for pair in genres],
        }
    )
    paths = {"ratings": folder / "ratings.csv", "items": folder / "movies.csv"}
    pacsv.write_csv(ratings, str(paths["ratings"]))
    pacsv.write_csv(movies, str(paths["items"]))
    return paths

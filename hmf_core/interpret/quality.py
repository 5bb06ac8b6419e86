"""Cluster quality of a trained cluster model: how crisp the memberships are, how far they moved
from the random start (HMF only), and how much they agree with the metadata (and with planted
labels). The model is read through hmf_core.models.interface (ClusterModel): its object vectors
and each grouping's membership; the one HMF-only part is movement (`has_hmf_start`).

Per side (user / item) and level (grouping) l, from its membership P (HMF: S(C1) ... S(C_l),
eq. 6 collapsed; rows sum to 1):

- sharpness: mean max membership, mean effective clusters per object (exp of the row entropy),
  clusters used (non-empty argmax), argmax and soft cluster sizes, share of objects with max > 0.5;
- movement (HMF only, `has_hmf_start`; skipped for other families): Pearson correlation of the
  trained with the initial connection logits C_l (all entries) and the share of argmax
  assignments unchanged; the start is rebuilt as training builds it:
  `hmf_core.models.hmf.initial_model(config, seed)`, then the run's warm start
  (hmf_core.models.warmstart, "none" = the random draw) from its training interactions;
- agreement with every categorical metadata column: purity, NMI and AMI of the argmax clusters,
  beside k-means (same k) on the run's own object embeddings U0, on the MF comparison's
  embeddings, and a size-matched random assignment;
- planted labels (metadata columns named `planted*`): adjusted Rand index per level.

Multi-valued columns (genres "Comedy|Drama"): each object is expanded into one sample per value
it has, all with the object's cluster; objects without a value are left out. So an item that is
a comedy and a drama counts twice, once as each.

MFDMC's views are parallel groupings (no links between them): each is measured on its own, exactly
as a level is, and its records carry its number as "level" (view v = "level" v); the file's
"grouping" says which word the numbers stand for. `best_captured` reads, per side and grouping,
the metadata column its clusters agree with most (do the views find different roles?).

quality.json (lists of flat records, one per side / level / column / method):
  version, seed, grouping ("level" or "view": what the "level" numbers count),
  start ("none" = random draw, "spectral" = warm start: what movement compares to),
  mf_comparison (bool), metadata {user, item: "run" or the file used},
  columns {user, item: [metadata columns compared]},
  sharpness [{side, level, clusters, objects, mean_max, mean_effective_clusters,
              clusters_used, share_max_above_half, sizes [k], soft_sizes [k]}],
  movement  [{side, level, logit_correlation, argmax_unchanged (rows of C_l),
              object_argmax_unchanged (objects at level l)}],
  agreement [{side, level, column, multi_valued, samples, classes,
              method: model|kmeans|mf_kmeans|random, purity, nmi, ami}],
  planted   [{side, level, column, method, ari}];
or {"error": "..."} when computing it failed after training.

`model_quality(model, seed, ...)` computes everything from models, without files
(hmf_core.runs.quality_files.run_quality reads a run and writes its quality.json);
`quality_tables` turns the dict into DataFrames for display. The other functions are pure.
sklearn is imported in the functions that compute with it: the app's pages import this module
to read quality.json, and importing sklearn took about 1 s of a page's first visit.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import torch

from hmf_core.common.errors import RunError
from hmf_core.data.columns import categorical_columns, planted_columns
from hmf_core.interpret.stability import adjusted_rand
from hmf_core.models.interface import ClusterModel, grouping_word, n_objects

VERSION = 1
SIDES = ("user", "item")
METHODS = ("model", "kmeans", "mf_kmeans", "random")
MINIBATCH_ABOVE = 50_000  # objects; above this k-means is MiniBatchKMeans
RANDOM_REPEATS = 5


# ---------------------------------------------------------------- sharpness and movement


def sharpness(probabilities: np.ndarray) -> dict:
    """How crisp memberships are: `probabilities` (M, k), rows sum to 1."""
    probabilities = np.asarray(probabilities, dtype=np.float64)  # (M, k)
    k = probabilities.shape[1]
    top = probabilities.max(axis=1)  # (M,)
    logs = np.log(np.clip(probabilities, 1e-300, None))  # (M, k)
    entropy = -(probabilities * logs).sum(axis=1)  # (M,)
    assigned = probabilities.argmax(axis=1)  # (M,)
    sizes = np.bincount(assigned, minlength=k)  # (k,)
    return {
        "clusters": int(k),
        "objects": int(probabilities.shape[0]),
        "mean_max": float(top.mean()),
        "mean_effective_clusters": float(np.exp(entropy).mean()),
        "clusters_used": int((sizes > 0).sum()),
        "share_max_above_half": float((top > 0.5).mean()),
        "sizes": sizes.tolist(),
        "soft_sizes": probabilities.sum(axis=0).round(4).tolist(),
    }


def movement(trained_logits: np.ndarray, initial_logits: np.ndarray) -> dict:
    """How far connection logits C_l (rows, k) moved: Pearson correlation over all entries and
    the share of rows whose argmax cluster is unchanged."""
    trained = np.asarray(trained_logits, dtype=np.float64)  # (rows, k)
    initial = np.asarray(initial_logits, dtype=np.float64)  # (rows, k)
    if trained.shape != initial.shape:
        raise ValueError(f"logit shapes differ: {trained.shape} vs {initial.shape}")
    if trained.std() == 0 or initial.std() == 0:
        correlation = None  # undefined for constant logits
    else:
        correlation = float(np.corrcoef(trained.ravel(), initial.ravel())[0, 1])
    unchanged = float((trained.argmax(axis=1) == initial.argmax(axis=1)).mean())
    return {"logit_correlation": correlation, "argmax_unchanged": unchanged}


# ---------------------------------------------------------------- agreement


def purity(clusters: np.ndarray, classes: np.ndarray) -> float:
    """Share of samples whose class is the most frequent class of their cluster."""
    from sklearn.metrics.cluster import contingency_matrix

    table = contingency_matrix(classes, clusters, sparse=True)  # (classes, clusters)
    return float(table.max(axis=0).sum() / len(clusters))


def agreement_scores(clusters: np.ndarray, classes: np.ndarray) -> dict:
    """Purity, NMI and adjusted mutual information of a clustering against class labels."""
    from sklearn.metrics import adjusted_mutual_info_score, normalized_mutual_info_score

    return {
        "purity": purity(clusters, classes),
        "nmi": float(normalized_mutual_info_score(classes, clusters)),
        "ami": float(adjusted_mutual_info_score(classes, clusters)),
    }


def random_agreement(
    clusters: np.ndarray,
    rows: np.ndarray,
    labels: np.ndarray,
    seed: int,
    repeats: int = RANDOM_REPEATS,
) -> dict:
    """Mean agreement of size-matched random clusterings: seeded permutations of the objects'
    cluster labels (clusters (M,), samples `rows` -> `labels`)."""
    rng = np.random.default_rng(seed)
    scores = [agreement_scores(rng.permutation(clusters)[rows], labels) for _ in range(repeats)]
    return {key: float(np.mean([s[key] for s in scores])) for key in scores[0]}


def kmeans_labels(embeddings: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Seeded k-means (MiniBatchKMeans above MINIBATCH_ABOVE objects): labels (M,)."""
    from sklearn.cluster import KMeans, MiniBatchKMeans

    embeddings = np.asarray(embeddings, dtype=np.float64)  # (M, d)
    k = max(1, min(int(k), len(embeddings)))
    kind = MiniBatchKMeans if len(embeddings) > MINIBATCH_ABOVE else KMeans
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning on duplicate points
        return kind(n_clusters=k, n_init=3, random_state=seed).fit_predict(embeddings)


# ---------------------------------------------------------------- one side of a run


def has_hmf_start(model: ClusterModel) -> bool:
    """The one HMF-only branch of quality: movement compares HMF's connection logits with the
    start training rebuilt them from (rebuild_start); any other family has neither."""
    return getattr(model, "family", None) == "hmf"


def _hmf_movement(model: ClusterModel, initial: ClusterModel | None, side: str) -> list[dict]:
    """Movement records of one side, one per level (the module docstring): the one HMF-only
    measure, as it compares HMF's connection logits C_l with the start's. [] for a model of
    another family (its groupings have no logits) or without a start."""
    if initial is None or not (has_hmf_start(model) and has_hmf_start(initial)):
        return []
    trained, start = model.side(side), initial.side(side)  # HMF's HierarchicalEmbedding
    records = []
    with torch.no_grad():
        for level in range(1, trained.depth + 1):
            moved = movement(
                trained.connections[level - 1].double().numpy(),
                start.connections[level - 1].double().numpy(),
            )
            now = trained.object_to_level(level).argmax(1).numpy()  # (M,)
            then = start.object_to_level(level).argmax(1).numpy()  # (M,)
            moved["object_argmax_unchanged"] = float((then == now).mean())
            records.append({"level": level, **moved})
    return records


def side_quality(
    model: ClusterModel,
    side: str,
    initial: ClusterModel | None,
    mf_embeddings: np.ndarray | None,
    metadata: pd.DataFrame | None,
    seed: int,
) -> dict:
    """Records for one side of `model`: {"sharpness", "movement", "agreement", "planted"}
    lists of dicts, each with "level" (1..number of groupings), and "columns": the metadata
    columns compared. `initial`: the start, for movement (HMF only)."""
    result = {"sharpness": [], "movement": [], "agreement": [], "planted": [], "columns": []}
    groupings = model.groupings(side)
    if not groupings:
        return result
    count = n_objects(model, side)
    if metadata is not None and len(metadata) != count:
        raise ValueError(
            f"metadata has {len(metadata)} rows for {count} objects: it must be in model "
            "order, one row per object (as users.csv / items.csv of a run)"
        )
    with torch.no_grad():
        embeddings = model.object_vectors(side).double().cpu().numpy()  # U0: (M, d)
        assignments, sizes = {}, {}
        for level, found in enumerate(groupings, start=1):
            probabilities = found.membership.double().cpu().numpy()  # (M, m_l)
            assignments[level] = probabilities.argmax(axis=1)  # (M,)
            sizes[level] = found.n_clusters
            result["sharpness"].append({"level": level, **sharpness(probabilities)})
    result["movement"] = _hmf_movement(model, initial, side)
    columns = categorical_columns(metadata) if metadata is not None else {}
    planted = planted_columns(metadata) if metadata is not None else {}
    result["columns"] = [*columns, *planted]
    if not columns and not planted:
        return result
    clustering = _clusterings(assignments, sizes, embeddings, mf_embeddings, seed)
    for level in assignments:
        result["agreement"] += _agreement_records(level, columns, assignments, clustering, seed)
        result["planted"] += _planted_records(level, planted, assignments, clustering, seed)
    return result


def _clusterings(
    assignments: dict,
    sizes: dict,
    embeddings: np.ndarray,
    mf_embeddings: np.ndarray | None,
    seed: int,
):
    """clustering(method, level) -> the level's cluster per object by `method` (the model's
    top cluster, k-means on its object vectors or on MF's, as many clusters as the level), or
    None without MF; each k-means computed once."""
    cache: dict[tuple[str, int], np.ndarray] = {}

    def clustering(method: str, level: int) -> np.ndarray | None:
        k = sizes[level]
        if method == "model":
            return assignments[level]
        source = embeddings if method == "kmeans" else mf_embeddings
        if source is None:
            return None
        if (method, k) not in cache:
            cache[method, k] = kmeans_labels(source, k, seed)
        return cache[method, k]

    return clustering


def _agreement_records(
    level: int, columns: dict, assignments: dict, clustering, seed: int
) -> list[dict]:
    """Agreement of each metadata column with the level's clusters by the model, k-means on its
    vectors and k-means on MF's, then with random clusters of the same sizes."""
    records = []
    for name, column in columns.items():
        rows, labels = column["rows"], column["labels"]
        record = {
            "level": level,
            "column": name,
            "multi_valued": column["multi_valued"],
            "samples": len(rows),
            "classes": len(set(labels.tolist())),
        }
        for method in METHODS[:3]:
            clusters = clustering(method, level)
            if clusters is not None:
                records.append(
                    {**record, "method": method, **agreement_scores(clusters[rows], labels)}
                )
        scores = random_agreement(assignments[level], rows, labels, seed)
        records.append({**record, "method": "random", **scores})
    return records


def _planted_records(
    level: int, planted: dict, assignments: dict, clustering, seed: int
) -> list[dict]:
    """ARI of each planted column with the level's clusters by each method (random: the mean
    over RANDOM_REPEATS permutations of the model's)."""
    records = []
    for name, labels in planted.items():
        rng = np.random.default_rng(seed)
        for method in METHODS:
            if method == "random":
                ari = np.mean(
                    [
                        adjusted_rand(labels, rng.permutation(assignments[level]))
                        for _ in range(RANDOM_REPEATS)
                    ]
                )
            else:
                clusters = clustering(method, level)
                if clusters is None:
                    continue
                ari = adjusted_rand(labels, clusters)
            record = {"level": level, "column": name, "method": method, "ari": float(ari)}
            records.append(record)
    return records


# ---------------------------------------------------------------- a run


def multi_valued_note(quality: dict) -> str:
    """How quality.json's multi-valued columns were compared, in their own names: "genres
    (several values per item): one sample per value." ("" when it compared none)."""
    found = {}
    for record in quality.get("agreement") or []:
        if isinstance(record, dict) and record.get("multi_valued"):
            found.setdefault(str(record.get("column")), str(record.get("side", "object")))
    if not found:
        return ""
    named = ", ".join(f"{column} (several values per {side})" for column, side in found.items())
    return f"{named}: one sample per value."


def find_record(records, **match) -> dict:
    """The first record of a quality.json list whose fields equal `match` ({} if none);
    entries that are not records (a damaged file) are skipped."""
    records = [r for r in records if isinstance(r, dict)]
    return next((r for r in records if all(r.get(k) == v for k, v in match.items())), {})


def model_quality(
    model: ClusterModel,
    seed: int,
    initial: ClusterModel | None = None,
    mf: ClusterModel | None = None,
    users: pd.DataFrame | None = None,
    items: pd.DataFrame | None = None,
) -> dict:
    """The quality dict of a model, without files (benchmarks call this on a fitted model).

    `initial`: the start (see rebuild_start) for movement (HMF only: ignored for another
    family); `mf`: the MF comparison (its object vectors) for its k-means; `users` / `items`:
    metadata frames in model order (row k = object k), as in users.csv / items.csv;
    `planted*` columns there give the planted ARI."""
    quality = {
        "version": VERSION,
        "seed": int(seed),
        "grouping": grouping_word(model),  # what the records' "level" numbers count
        "mf_comparison": mf is not None,
        "sharpness": [],
        "movement": [],
        "agreement": [],
        "planted": [],
        "columns": {},  # side -> metadata columns compared (categorical, then planted)
    }
    for kind, metadata in (("user", users), ("item", items)):
        mf_embeddings = None
        if mf is not None:
            with torch.no_grad():
                mf_embeddings = mf.object_vectors(kind).double().cpu().numpy()  # (M, d)
        side = side_quality(model, kind, initial, mf_embeddings, metadata, seed)
        quality["columns"][kind] = side.pop("columns")
        for key, records in side.items():
            quality[key] += [{"side": kind, **record} for record in records]
    return _finite(quality)


def _finite(value):
    """NaN and infinities -> None, so quality.json is strict JSON."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


# ---------------------------------------------------------------- display


# AMI is 0 in expectation for unrelated labellings and scatters by about +-0.005 around it on
# ML-100K-size data (the random baseline's spread); a ratio to a smaller AMI says nothing.
RATIO_FLOOR = 0.01


def quality_tables(quality: dict) -> dict[str, pd.DataFrame]:
    """Tidy tables of a quality dict: "sharpness" (one row per side and level, with movement),
    "agreement" (one row per side, level and column; purity/NMI/AMI per method, and
    ami_model_over_mf = AMI of the model / AMI of MF's k-means where that is above
    RATIO_FLOOR, so that a chance-level AMI does not blow the ratio up) and
    "planted" (ARI per method). Empty frames where there is nothing."""
    if "error" in quality:
        raise RunError(f"cluster quality could not be computed: {quality['error']}")
    keys = ["side", "level"]
    sharp = pd.DataFrame(quality.get("sharpness", []))
    if not sharp.empty:
        sharp = sharp.drop(columns=["sizes", "soft_sizes"])
        moved = pd.DataFrame(quality.get("movement", []))
        if not moved.empty:
            sharp = sharp.merge(moved, on=keys, how="left")
    agreement = pd.DataFrame(quality.get("agreement", []))
    if not agreement.empty:
        index = [*keys, "column", "multi_valued", "samples", "classes"]
        agreement = agreement.pivot_table(
            index=index, columns="method", values=["purity", "nmi", "ami"], sort=False
        )
        order = [(m, method) for m in ("ami", "nmi", "purity") for method in METHODS]
        agreement = agreement.reindex(columns=[c for c in order if c in agreement.columns])
        agreement.columns = [f"{metric}_{method}" for metric, method in agreement.columns]
        if "ami_mf_kmeans" in agreement.columns:  # issue 7's target: >= 1.5x MF's k-means
            mf_ami = agreement["ami_mf_kmeans"].where(agreement["ami_mf_kmeans"] >= RATIO_FLOOR)
            agreement.insert(4, "ami_model_over_mf", agreement["ami_model"] / mf_ami)
        agreement = agreement.reset_index()
    planted = pd.DataFrame(quality.get("planted", []))
    if not planted.empty:
        planted = planted.pivot_table(
            index=[*keys, "column"], columns="method", values="ari", sort=False
        )
        planted = planted.reindex(columns=[m for m in METHODS if m in planted.columns])
        planted.columns = [f"ari_{method}" for method in planted.columns]
        planted = planted.reset_index()
    return {"sharpness": sharp, "agreement": agreement, "planted": planted}


BEST_COLUMNS = [
    "side",
    "level",
    "best_column",
    "ami_model",
    "ami_mf_kmeans",
    "ami_model_over_mf",
    "ami_random",
    "runner_up",
    "runner_up_ami",
]


def best_captured(quality: dict) -> pd.DataFrame:
    """Which metadata each grouping captures best: one row per side and grouping ("level", the
    view number for MFDMC) with the metadata column whose AMI with the grouping's top clusters
    is highest (best_column, ami_model), k-means on plain MF's AMI on that column (None without
    an MF comparison), their ratio (None where MF's AMI is below RATIO_FLOOR, as in
    quality_tables), a random assignment's AMI, and the second-best column and its AMI (None with
    a single column). Views that found different roles have different best columns. Empty (with
    these columns) when the run has no metadata agreement."""
    if not isinstance(quality, dict) or "error" in quality:
        reason = quality.get("error") if isinstance(quality, dict) else "not a JSON object"
        raise RunError(f"cluster quality could not be computed: {reason}")
    records = [r for r in quality.get("agreement") or [] if isinstance(r, dict)]
    scores = pd.DataFrame(records, columns=["side", "level", "column", "method", "ami"])
    scores = scores.pivot_table(
        index=["side", "level", "column"], columns="method", values="ami", sort=False
    )
    if "model" not in scores.columns:
        return pd.DataFrame(columns=BEST_COLUMNS)
    rows = []
    for (side, level), part in scores.groupby(level=["side", "level"], sort=False):
        ranked = part.sort_values("model", ascending=False)
        best, second = ranked.iloc[0], ranked.iloc[1] if len(ranked) > 1 else None
        mf = _optional(best, "mf_kmeans")
        usable = mf is not None and mf >= RATIO_FLOOR
        rows.append(
            {
                "side": side,
                "level": int(level),
                "best_column": ranked.index[0][2],
                "ami_model": float(best["model"]),
                "ami_mf_kmeans": mf,
                "ami_model_over_mf": float(best["model"]) / mf if usable else None,
                "ami_random": _optional(best, "random"),
                "runner_up": ranked.index[1][2] if second is not None else None,
                "runner_up_ami": float(second["model"]) if second is not None else None,
            }
        )
    return pd.DataFrame(rows, columns=BEST_COLUMNS)


def _optional(row: pd.Series, method: str) -> float | None:
    value = row.get(method)
    return None if value is None or pd.isna(value) else float(value)

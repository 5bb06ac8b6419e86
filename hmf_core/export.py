"""A trained run's embeddings and memberships as files other tools read.

projector: TensorBoard Projector's pair of TSVs (projector.tensorflow.org: "Load"): vectors.tsv
    (one vector per line, tab-separated, no header) and metadata.tsv (a header row, then one row
    per vector, aligned): id (original id; "L<level>:<cluster>" for a cluster), kind (user, item,
    user cluster, item cluster), level (0 for users and items), label (title; a cluster's name),
    top_cluster (level-1 cluster of highest probability; -1 where none), top_cluster_name, size,
    and gender / occupation / genre where the metadata has them. Every user, item and cluster
    of every level, in the same latent space (hmf_core.interpret.projection.embedding_table).
parquet: per side, <side>_embeddings.parquet (id, label, dim_*), and per level
    <side>_clusters_level<l>.parquet (cluster, name, size, dim_*) and
    <side>_membership_level<l>.parquet (id, cluster_0, cluster_1, ...: collapsed
    probabilities, each row sums to 1).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hmf_core.interpret import projection
from hmf_core.interpret import queries as interpret

if TYPE_CHECKING:
    from hmf_core.api import Run

FORMATS = ("projector", "parquet")


def export(run: Run, out: str | Path, format: str) -> list[Path]:
    """Write the run's export in `format` into the folder `out` (made if absent); returns
    the files written."""
    if format not in FORMATS:
        raise ValueError(f"export format must be one of {', '.join(FORMATS)}, not {format!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    return projector(run, out) if format == "projector" else parquet(run, out)


def _names(run: Run, side: str, level: int) -> list[str]:
    """interpret.naming's name of every level-`level` cluster of `side` (as the app shows)."""
    meta = run.dir.table(f"{side}s")
    return interpret.named_clusters(run.model, side, level, meta)["name"].tolist()


def _cell(value) -> str:
    """One TSV cell: tabs and line breaks (from a user's titles) become spaces."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return " ".join(str(value).replace("\t", " ").splitlines()) if str(value) else ""


def projector(run: Run, out: Path) -> list[Path]:
    table, vectors = projection.embedding_table(run.model, run.dir.users(), run.dir.items())
    table = table.copy()
    table.insert(0, "id", "")
    table.insert(table.columns.get_loc("top_cluster") + 1, "top_cluster_name", "")
    for side in interpret.SIDES:
        object_kind, cluster_kind = projection.KINDS[side]
        objects = table["kind"] == object_kind
        rows = table.loc[objects, "index"].to_numpy()
        table.loc[objects, "id"] = [str(i) for i in run._side(side).ids[rows]]
        for level in range(1, run.depth(side) + 1):
            clusters = (table["kind"] == cluster_kind) & (table["level"] == level)
            indices = table.loc[clusters, "index"].to_numpy()
            table.loc[clusters, "id"] = [f"L{level}:{i}" for i in indices]
            names = np.array(_names(run, side, level), dtype=object)
            table.loc[clusters, "label"] = names[indices]
            if level == 1:
                mine = table["kind"].isin(projection.KINDS[side]) & (table["top_cluster"] >= 0)
                table.loc[mine, "top_cluster_name"] = names[table.loc[mine, "top_cluster"]]
    table = table.drop(columns="index")
    vectors_path, metadata_path = out / "vectors.tsv", out / "metadata.tsv"
    np.savetxt(vectors_path, vectors, delimiter="\t", fmt="%.8g")
    with open(metadata_path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write("\t".join(table.columns) + "\n")
        for row in table.itertuples(index=False):
            handle.write("\t".join(_cell(value) for value in row) + "\n")
    return [vectors_path, metadata_path]


def parquet(run: Run, out: Path) -> list[Path]:
    written = []
    for side in interpret.SIDES:
        objects = run.embeddings(side)
        labels = run._side(side).rows["label"].astype(str).to_numpy()
        frame = objects.reset_index().assign(label=labels)
        frame = frame[["id", "label", *objects.columns]]
        written.append(_parquet(frame, out / f"{side}_embeddings.parquet"))
        for level in range(1, run.depth(side) + 1):
            clusters = run.embeddings(side, level)
            sizes = interpret.cluster_sizes(run.model, side, level)
            frame = clusters.reset_index()
            frame.insert(1, "name", _names(run, side, level))
            frame.insert(2, "size", sizes)
            written.append(_parquet(frame, out / f"{side}_clusters_level{level}.parquet"))
            membership = run.memberships(side, level).reset_index()
            written.append(_parquet(membership, out / f"{side}_membership_level{level}.parquet"))
    return written


def _parquet(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_parquet(path, index=False)
    return path

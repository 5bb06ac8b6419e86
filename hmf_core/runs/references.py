"""Published figures that a run can be read beside: which apply is decided by the data's content
(its user, item and rating counts, as recorded in the run's data.json) and the run's split and
task, never by a file name, so a renamed ML-100K file still gets them and other data never does.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Identity:
    """A public dataset recognised by its counts (data.json's "data" part, after reading)."""

    name: str
    users: int
    items: int
    ratings: int

    def matches(self, data: dict) -> bool:
        counts = (data.get("users"), data.get("items"), data.get("interactions"))
        return counts == (self.users, self.items, self.ratings) and not data.get("implicit")


ML100K = Identity("ML-100K", users=943, items=1_682, ratings=100_000)


@dataclass(frozen=True)
class Reference:
    """Published test figures for one dataset and split: `figures` maps a model to its value of
    `metric`; `train_ratings` is the size of the published training set."""

    identity: Identity
    split: str
    task: str
    metric: str
    source: str
    train_ratings: int
    figures: dict

    def text(self, train_ratings_here: int) -> str:
        """One line for the Metrics page: the figures, and this run's training-set size beside
        the published one."""
        figures = ", ".join(f"{model} {value}" for model, value in self.figures.items())
        return (
            f"For reference, {self.source} on {self.identity.name} with this {self.split} "
            f"split ({train_ratings_here:,} train ratings here; {self.train_ratings:,} in the "
            f"paper): {figures}."
        )


REFERENCES = (
    # The paper's headline test RMSE (section 4; ../shared/paper/NOTES.md, the RMSE table).
    Reference(
        identity=ML100K,
        split="temporal",
        task="rating",
        metric="test RMSE",
        source="the paper's test RMSE",
        train_ratings=64_000,
        figures={"MF": 1.113, "IHSR": 1.080, "eTREE": 1.082, "HMF (depth 1)": 1.066},
    ),
)


def published_references(summary: dict, settings: dict) -> list[Reference]:
    """The published figures that apply to a run: its data (`summary`: the run's data.json,
    {"data": {...}, "split": {...}}) is the dataset they were measured on, recognised by its
    counts, and its settings use the same split and task. Empty for any other data."""
    data = summary.get("data", {}) if isinstance(summary, dict) else {}
    return [
        reference
        for reference in REFERENCES
        if reference.identity.matches(data)
        and settings.get("split") == reference.split
        and settings.get("task", "rating") == reference.task
    ]

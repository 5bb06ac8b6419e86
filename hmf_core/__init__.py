"""HMF Explorer's core: hierarchical matrix factorisation, its training and its interpretation.

The public API (hmf_core.api) is imported on first use, so `import hmf_core` stays light:

    import hmf_core
    run = hmf_core.open_run("runs/my-run")        # a trained run, in your own ids
    run.recommend(42, k=10)
    run = hmf_core.train(ratings_frame, items=movies_frame, max_epochs=5)
"""

from __future__ import annotations

__all__ = ["Run", "UnknownId", "open_run", "train"]


def __getattr__(name: str):
    if name in __all__:
        from hmf_core import api

        return getattr(api, name)
    raise AttributeError(f"module 'hmf_core' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])

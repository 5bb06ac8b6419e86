"""No page of the app imports Lightning: it is only needed to train, and training runs in its own
process. Importing it took 2.8 s of a first Metrics visit (hmf_core.stability_job lived in
hmf_core.runs.stability, which imports it). Nor sklearn or scipy.stats, on a run whose maps
job saved the cluster names: they compute names, quality and stability, which the pages read
(importing them took about 1 s of the first visit of any page, 1.5 s of a first Map visit at
ML-20M size). Checked in a fresh process: this one has imported them already through other
tests."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import REPO

PAGES = ("map", "affinity", "membership", "explain", "metrics", "train", "data", "compare")
VISIT = """
import sys
from streamlit.testing.v1 import AppTest
at = AppTest.from_file({app!r}, default_timeout=300)
at.query_params["run"] = "tiny"
at.run()
for page in {pages!r}:
    at.switch_page(f"views/{{page}}.py").run()
    assert not at.exception, (page, [e.value for e in at.exception])
    for module in ("pytorch_lightning", "sklearn", "scipy.stats"):
        assert module not in sys.modules, f"the {{page}} page imported {{module}}"
print("pages visited without Lightning, sklearn or scipy.stats")
"""


def test_no_page_imports_lightning_sklearn_or_scipy_stats(finished_runs):
    script = VISIT.format(app=str(REPO / "dashboard" / "app.py"), pages=PAGES)
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "HMF_RUNS_DIR": str(finished_runs)},
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "pages visited without Lightning, sklearn or scipy.stats" in done.stdout

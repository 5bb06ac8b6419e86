"""`python -m hmf_core.worker RUN_DIR`: the process that hmf_core.runs.start_run launches."""

import sys
from pathlib import Path

from hmf_core.runs import run_worker

if __name__ == "__main__":
    sys.exit(run_worker(Path(sys.argv[1])))

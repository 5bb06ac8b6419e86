"""`hmf-explorer`: start the app from any folder, as `streamlit run <installed app.py>`.

Streamlit reads `.streamlit/config.toml` from the folder it starts in (and from beside the
script, as `.streamlit/`, which an installed package cannot hold), so the project's settings
(headless, upload size, no telemetry, theme...) are given as `streamlit run` flags here, read
from the installed copy of that file (`dashboard/streamlit_config/config.toml`, pyproject.toml
maps it) or, in a clone, from the repository's own. Extra arguments pass through after them, so
`hmf-explorer --server.port 8600` wins over a setting of the file. Runs go to ./runs of the
folder it is started in ($HMF_RUNS_DIR), as with `streamlit run dashboard/app.py`.
"""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
APP = HERE / "app.py"


def config_file() -> Path | None:
    """The project's config.toml: the installed copy, else the clone's `.streamlit/`."""
    for folder in (HERE / "streamlit_config", HERE.parent / ".streamlit"):
        path = folder / "config.toml"
        if path.is_file():
            return path
    return None


def config_flags(path: Path | None) -> list[str]:
    """`--section.key=value` for every setting of the file: booleans as true / false, a list
    as JSON (how Streamlit reads a list option given as a flag or environment variable)."""
    if path is None:
        return []
    flags = []
    for section, options in tomllib.loads(path.read_text(encoding="utf-8")).items():
        for key, value in options.items():
            if isinstance(value, bool):
                text = str(value).lower()
            elif isinstance(value, list):
                text = json.dumps(value)
            else:
                text = str(value)
            flags.append(f"--{section}.{key}={text}")
    return flags


def streamlit_args(extra: list[str]) -> list[str]:
    """The arguments of `streamlit`: run, the app, the project's settings, then `extra`."""
    return ["run", str(APP), *config_flags(config_file()), *extra]


def main(argv: list[str] | None = None) -> int:
    from streamlit.web import cli as streamlit_cli

    extra = sys.argv[1:] if argv is None else argv
    if extra[:1] in (["-h"], ["--help"]):
        print(
            "usage: hmf-explorer [STREAMLIT RUN OPTIONS]\n\n"
            f"Starts the HMF Explorer app: streamlit run {APP} with the project's settings\n"
            "(see `streamlit run --help` for the options, e.g. --server.port 8600,\n"
            "--server.address 127.0.0.1). Runs are written under $HMF_RUNS_DIR (default\n"
            "./runs), files are read from $HMF_DATA_DIR (default ./data)."
        )
        return 0
    sys.argv = ["streamlit", *streamlit_args(extra)]
    return streamlit_cli.main()


if __name__ == "__main__":
    sys.exit(main())

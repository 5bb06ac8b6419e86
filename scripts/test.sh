#!/usr/bin/env bash
# The test command README.md gives: a virtual environment, the pinned packages, every test.
# Browser tests need Debian's chromium (/usr/bin/chromium); without it they skip, saying why.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install -q -r requirements-dev.txt -e .
.venv/bin/python -m pytest "$@"

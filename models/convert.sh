#!/usr/bin/env bash
# Regenerate the ONNX models in models/ and models/plain/ from MediaPipe's npm
# packages, then the vision test fixtures in crates/vision/tests/fixtures/.
#
# Needs python3 (3.10-3.12) with venv, npm, and access to PyPI and the npm
# registry. CI does not run this: it uses the committed files.
#
#   models/convert.sh
#
# Environment:
#   PEERLENS_MODELS_VENV  the venv to use/create (default ~/.cache/peerlens/models-venv)
#   PEERLENS_CACHE        download/work cache   (default ~/.cache/peerlens)
#   PYTHON                interpreter used to create the venv (default python3)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${PEERLENS_MODELS_VENV:-$HOME/.cache/peerlens/models-venv}"
python="${PYTHON:-python3}"

say() { echo "[convert.sh] $*"; }

command -v npm >/dev/null 2>&1 || { say "npm not found: it is needed to fetch the @mediapipe packages"; exit 1; }

if [ -x "$venv/bin/python" ]; then
  say "using the venv at $venv"
else
  say "creating a venv at $venv with $("$python" --version 2>&1)"
  "$python" -m venv "$venv"
fi

say "installing the pinned packages from models/requirements.txt (no-op when already there)"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"

# TensorFlow's C++ logging is noisy; keep warnings and errors.
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-1}"
export PYTHONWARNINGS="${PYTHONWARNINGS:-ignore::UserWarning}"

say "converting the models (models/convert.py)"
"$venv/bin/python" "$here/convert.py"

say "writing the reference fixtures (models/reference/make_fixtures.py)"
"$venv/bin/python" "$here/reference/make_fixtures.py"

say "done; review with: git status models crates/vision/tests/fixtures"

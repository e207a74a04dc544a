#!/usr/bin/env bash
# The Quix Streams baseline's own venv: bench/.venv-quix (gitignored).
#
# quixstreams 3.28.1 needs confluent-kafka<2.13, the project pins 2.16, so the Quix
# pipeline cannot share .venv. Its streams.* imports come from the work tree through
# PYTHONPATH (set by the runner), not from an install of the project: this venv only
# holds what bench/baselines/quix_pipeline.py and the streams modules it imports need
# (validation, events, features, model -> contracts: orjson, numpy, lightgbm, jsonschema;
# records, which every Kafka module imports: msgspec).
# Versions are the main venv's, so both pipelines run the same model code.
#
# Idempotent: does nothing when the stamp matches this script's requirements.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/bench/.venv-quix"
PYTHON="${PYTHON:-python3}"
REQUIREMENTS=(
  "quixstreams==3.28.1"
  "lightgbm==4.7.0"
  "numpy==2.4.6"
  "scipy==1.17.1"
  "narwhals==2.29.0"
  "orjson==3.13.0"
  "msgspec==0.22.0"
  "jsonschema==4.26.0"
  "referencing==0.37.0"
)
STAMP="$VENV/.installed"
WANT="${REQUIREMENTS[*]}"

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" && -x "$VENV/bin/python" ]]; then
  exit 0
fi
if [[ ! -x "$VENV/bin/python" ]]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${REQUIREMENTS[@]}"
"$VENV/bin/python" -c "import quixstreams, lightgbm, numpy, orjson, jsonschema, msgspec"
printf '%s' "$WANT" > "$STAMP"

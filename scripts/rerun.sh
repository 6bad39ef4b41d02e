#!/usr/bin/env bash
# The long reruns of issues 25 and 26 (hours to days on 2 cores), in order. Every step resumes
# from its checkpoint under data/, so after a cut (a session's end, a kill) run this again: the
# finished steps pass in seconds. Then `python scripts/findings.py` rewrites the readings and
# `make test` checks them. Logs go to tmp/rerun/.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
mkdir -p tmp/rerun
step() { echo "== $(date -u +%H:%M) $*"; "$@" >> "tmp/rerun/$(basename "$2" .py).log" 2>&1; }

# issue 25: the tables with the fixed engine, then the strategies on them
step $PY bench/oracle.py --table resnet3_27 --seeds 4 --skip-existing
step $PY bench/strategies.py --table data/oracles/resnet3_27.json
# resnet_narrow_18 was built before the engine fixes (2026-12-05): it is rebuilt beside the old
# one (data/oracles/rebuild/, resumable) and replaces it once whole; a table built on or after
# 2026-12-07 is the rebuilt one and is left alone
if ! $PY -c 'import json, sys; sys.exit(json.load(open("data/oracles/resnet_narrow_18.json"))["created"] < "2026-12-07")'; then
    step $PY bench/oracle.py --table resnet_narrow_18 --seeds 3 --out data/oracles/rebuild
    mv data/oracles/rebuild/resnet_narrow_18.json data/oracles/resnet_narrow_18.json
fi
step $PY bench/strategies.py --table data/oracles/resnet_narrow_18.json
# issue 26: learning against the operator, compound scaling, the long-training table
step $PY bench/robustness.py
step $PY bench/scaling.py
step $PY bench/oracle.py --table resnet3_27_e15 --seeds 3 --skip-existing
step $PY bench/strategies.py --table data/oracles/resnet3_27_e15.json
echo "== $(date -u +%H:%M) done; now: $PY scripts/findings.py"

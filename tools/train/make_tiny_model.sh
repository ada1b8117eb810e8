#!/usr/bin/env bash
# Rebuilds test/fixtures/models/tiny-ich.onnx: the node's test model (not for clinical use).
# About 2 minutes on one CPU core; deterministic for a given torch version.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-/usr/bin/python3}
WORK=${WORK:-$(mktemp -d)}
$PY -m ich_train train --arch tiny --size 64 --phantoms 160 --phantom-matrix 512 --phantom-slices 24 \
  --epochs 15 --batch 32 --lr 2e-3 --threads 1 --workers 0 --seed 1 --out "$WORK"
$PY -m ich_train export "$WORK/checkpoint.pt" --out ../../test/fixtures/models/tiny-ich.onnx \
  --name tiny-ich --version 0.1.0 --intended-use "test model, not for clinical use" \
  --eval-json "$WORK/metrics.json" --thresholds fixed:0.5

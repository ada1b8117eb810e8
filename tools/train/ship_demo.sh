#!/usr/bin/env bash
# Turns a demo training run into models/ich-demo-$VERSION.onnx and its evaluation:
#   1. export (thresholds at precision 0.7 on the run's validation slices),
#   2. int8 weights (static int8 where Python onnxruntime exists),
#   3. held-out evaluation: validation slices split by source (phantoms; real backgrounds
#      with inserted bleeds) and fresh phantom series written as DICOM and read back through
#      the reference preprocessing (the node's path).
# Usage: RUN=/tmp/ich-demo2/run VERSION=0.1.0 ./ship_demo.sh   (outputs also in $RUN/ship)
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-/usr/bin/python3}
: "${RUN:?set RUN to the training output folder}"
VERSION=${VERSION:-0.1.0}
SHIP="$RUN/ship"
MODEL=../../models/ich-demo-$VERSION.onnx
mkdir -p "$SHIP"
DATA="${TRAINING_DATA:-synthetic head CT phantoms (ich_train synth) plus synthetic bleeds inserted into real RSNA 2019 head CT slices (30 series of ../shared/data; RSNA/Kaggle terms: non-commercial research and education)}"
$PY -m ich_train export "$RUN/checkpoint.pt" --out "$SHIP/fp32.onnx" --name ich-demo --version "$VERSION" \
  --intended-use "demonstration only, not for clinical use" --training-data "$DATA" \
  --eval-json "$RUN/metrics.json" --thresholds precision | tee "$SHIP/export.json"
MODE=static
if ! $PY -c "import onnxruntime" 2>/dev/null; then MODE=weights; fi
$PY -m ich_train quantize "$SHIP/fp32.onnx" --out "$MODEL" --mode "$MODE" | tee "$SHIP/quantize.json"
for SOURCE in phantom real; do
  if [ "$SOURCE" = phantom ]; then PATTERN='^phantom-'; else PATTERN='^[^p]'; fi
  for FILE in val_predictions val_labels; do
    { head -1 "$RUN/$FILE.csv"; tail -n +2 "$RUN/$FILE.csv" | grep -E "$PATTERN" || true; } > "$SHIP/$FILE-$SOURCE.csv"
  done
  $PY -m ich_train eval --predictions "$SHIP/val_predictions-$SOURCE.csv" --labels "$SHIP/val_labels-$SOURCE.csv" \
    --out "$SHIP/eval-val-$SOURCE"
done
$PY -m ich_train synth --out "$SHIP/heldout" --series "${HELDOUT_SERIES:-20}" --slices 28 --matrix 512 --seed 99
$PY -m ich_train predict "$MODEL" --labels "$SHIP/heldout/labels.csv" --out "$SHIP/heldout-predictions.csv" --workers 0
$PY -m ich_train eval --predictions "$SHIP/heldout-predictions.csv" --labels "$SHIP/heldout/labels.csv" \
  --out "$SHIP/eval-heldout-phantoms"
rm -rf "$SHIP/heldout"
sha256sum "$MODEL" | tee "$SHIP/sha256.txt"

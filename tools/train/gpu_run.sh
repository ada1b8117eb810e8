#!/usr/bin/env bash
# One-shot run for the lent GPU machine (one H100: torch 2.x, onnx, onnxruntime with its
# quantization tools; no pydicom, OpenCV, pandas, scikit-learn or internet; 15 minutes of
# device time including start-up). Trains ResNet-50 on phantoms rendered on the GPU,
# exports the ONNX model with the contract's metadata, quantizes it to int8 (static QDQ)
# and leaves under $OUT: logs, metrics, the int8 model split into <16 MiB parts
# (reassemble: cat ich-demo-int8.onnx.part-* > ich-demo-int8.onnx) and its sha256.
#
#   run: OUT=$OUT bash tools/train/gpu_run.sh
#   dry run on a CPU at tiny size: TINY=1 OUT=/tmp/gpu-dry bash tools/train/gpu_run.sh
set -euo pipefail
cd "$(dirname "$0")"
: "${OUT:?set OUT to the output folder}"
mkdir -p "$OUT"
PY=${PYTHON:-python3}
VERSION=${VERSION:-0.2.0}
if [ "${TINY:-0}" = 1 ]; then
  TRAIN="--arch tiny --size 64 --phantoms 6 --phantom-slices 8 --phantom-matrix 128 --epochs 1 --batch 8 --workers 0"
  CALIBRATION=8
else
  # ~2.5 min rendering + ~3 min training (3,650 images/s measured for ResNet-50, bf16, batch 128).
  TRAIN="--arch resnet50 --size 224 --phantoms 1200 --phantom-slices 32 --phantom-matrix 512 --epochs 12 --batch 128 --workers 8"
  CALIBRATION=256
fi
{ nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true; $PY -c "import torch, onnx; print('torch', torch.__version__, 'onnx', onnx.__version__)"; } > "$OUT/environment.txt" 2>&1
# shellcheck disable=SC2086
$PY -m ich_train train $TRAIN --lr 3e-4 --seed 3 --phantom-bleed-probability 0.6 --out "$OUT/run" 2>&1 | tee "$OUT/train.log"
$PY -m ich_train export "$OUT/run/checkpoint.pt" --out "$OUT/fp32.onnx" --name ich-demo --version "$VERSION" \
  --intended-use "demonstration only, not for clinical use" --eval-json "$OUT/run/metrics.json" \
  --thresholds precision | tee "$OUT/export.json"
MODE=static
if ! $PY -c "import onnxruntime" 2>/dev/null; then MODE=weights; echo "no Python onnxruntime: int8 weights only"; fi
$PY -m ich_train quantize "$OUT/fp32.onnx" --out "$OUT/ich-demo-int8.onnx" --calibration "$CALIBRATION" \
  --mode "$MODE" | tee "$OUT/quantize.json"
sha256sum "$OUT/ich-demo-int8.onnx" > "$OUT/ich-demo-int8.onnx.sha256"
split -b 15M -d "$OUT/ich-demo-int8.onnx" "$OUT/ich-demo-int8.onnx.part-"
rm -f "$OUT/ich-demo-int8.onnx" "$OUT/fp32.onnx" "$OUT/run/checkpoint.pt"
ls -la "$OUT" "$OUT/run"

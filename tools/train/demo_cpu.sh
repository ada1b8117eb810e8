#!/usr/bin/env bash
# Trains the CPU demo model (no GPU was available): ResNet-18 at 128 px on phantoms plus
# synthetic bleeds inserted into the real slices of ../shared/data (RSNA, non-commercial
# research and education licence). About 60 minutes on one free CPU thread (5 epochs of ~8,700 slices at
# 11-28 images/s depending on load). Outputs in $WORK.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-/usr/bin/python3}
WORK=${WORK:-/tmp/ich-demo}
REAL=${REAL:-../../../shared/data}
$PY -m ich_train train --arch resnet18 --head gap --size 128 --lr 3e-4 --lr-schedule cosine --batch 32 \
  --epochs ${EPOCHS:-5} --phantoms 150 --phantom-slices 28 --phantom-matrix 256 --phantom-bleed-probability 0.6 \
  --real-backgrounds "$REAL" --real-variants 5 --real-insert-probability 0.6 \
  --threads 1 --workers 0 --seed 2 --cache "$WORK/cache" --out "$WORK/run" ${RESUME:+--resume "$RESUME"}

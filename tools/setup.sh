#!/usr/bin/env bash
# Installs what ich-triage needs on Debian 12 with Node.js 20, then builds it.
#   tools/setup.sh          runtime: npm dependencies and the build
#   tools/setup.sh --test   also the peers and tools the tests use (dcmtk, dicom3tools,
#                           Orthanc, Debian's PyTorch stack, Chromium)
set -euo pipefail
cd "$(dirname "$0")/.."

with_tests=false
[ "${1:-}" = "--test" ] && with_tests=true

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

packages=(build-essential python3)
if $with_tests; then
  packages+=(dcmtk dicom3tools orthanc systemd
    python3-torch python3-torchvision python3-pydicom python3-onnx python3-opencv
    python3-pytest python3-pandas python3-matplotlib python3-sklearn python3-tqdm libopenblas0-openmp
    chromium)
fi
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# Orthanc's Debian package starts a system service on port 4242/8042; the tests start their own.
if $with_tests && command -v systemctl >/dev/null && systemctl is-active --quiet orthanc 2>/dev/null; then
  as_root systemctl stop orthanc || true
fi

# onnxruntime-node's install script downloads CUDA libraries; the CPU and WebGPU providers are
# in the package. See README "GPU hosts" for installing the CUDA provider.
ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
npm run build

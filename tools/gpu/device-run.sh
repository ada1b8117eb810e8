#!/usr/bin/env bash
# Runs on the GPU host, in a checkout holding .gpu/ and .gl/ from tools/gpu/pack.sh: unpacks
# node and the built node, makes Vulkan usable, then runs the provider benchmark
# (dist/bench/providerBenchMain.js): the real `ich-triage classify` per provider over the real
# slices and phantoms, their probabilities compared, raw onnxruntime throughput, and an
# ingest run through `ich-triage serve` with its end-to-end ratio to raw.
#
#   OUT=DIR tools/gpu/device-run.sh [--install-vulkan]
#
# --install-vulkan  unpacks .gl/*.deb into / (only where no Vulkan loader is installed; the
#                   device tool's machines lack one): never on a machine you care about.
# Environment: OUT (default ./gpu-out), GPU_PROVIDERS (cpu,webgpu: the first is the reference),
# GPU_PHANTOMS (512), GPU_RAW_SLICES (1024), GPU_SECONDS (300: no stage starts later; the
# benchmark is killed 120 s after), GPU_MODEL (default: the first models/*.onnx).
# Writes $OUT/run.log, $OUT/providers.json and $OUT/classify-<provider>-real.json, and exits 0
# whatever the providers did: what failed is in the log and the JSON.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${OUT:-$root/gpu-out}
install_vulkan=false
for arg in "$@"; do
  case "$arg" in
    --install-vulkan) install_vulkan=true ;;
    *) echo "unknown option $arg" >&2; exit 64 ;;
  esac
done
mkdir -p "$out"
work=$(mktemp -d /tmp/ich-gpu.XXXXXX)
trap 'rm -rf "$work"' EXIT
models=("$root"/models/*.onnx)
model=${GPU_MODEL:-${models[0]}}
seconds=${GPU_SECONDS:-300}

step() { echo "== $(date -u +%T) $*"; }

run() {
  step "unpack"
  xz -dc "$root/.gpu/node.xz" > "$work/node" && chmod +x "$work/node" || return 1
  tar -xJf "$root/.gpu/app.tar.xz" -C "$work" || return 1
  mkdir -p "$work/slices" && tar -xf "$root/.gpu/slices.tar" -C "$work/slices" || return 1
  echo "node $("$work/node" --version); $(find "$work/slices" -type f | wc -l) real slices; model $model"

  step "vulkan"
  # grep without -q: an early exit would fail ldconfig with SIGPIPE under pipefail.
  if ldconfig -p | grep 'libvulkan\.so\.1' >/dev/null; then
    echo "Vulkan loader installed"
  elif $install_vulkan; then
    for f in "$root"/.gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
    echo "Vulkan loader unpacked from .gl/"
  else
    echo "no Vulkan loader (pass --install-vulkan to unpack .gl/*.deb into /): webgpu will be unavailable"
  fi
  # NVIDIA's Vulkan driver lives outside the loader's search path on the device tool's machines.
  local icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  if [ -f "$icd" ]; then export VK_DRIVER_FILES=$icd; echo "VK_DRIVER_FILES=$icd"; fi
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  nproc

  step "provider benchmark (stages start within ${seconds} s)"
  timeout --kill-after=10 $((seconds + 120)) "$work/node" "$work/app/dist/bench/providerBenchMain.js" \
    --out "$out" --model "$model" --real "$work/slices" \
    --providers "${GPU_PROVIDERS:-cpu,webgpu}" --phantoms "${GPU_PHANTOMS:-512}" \
    --raw-slices "${GPU_RAW_SLICES:-1024}" --seconds "$seconds"
  step "benchmark exit $?"
}

run 2>&1 | tee "$out/run.log"
ls -l "$out"
exit 0

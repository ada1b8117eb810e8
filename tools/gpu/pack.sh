#!/usr/bin/env bash
# Packs what a GPU host without Node.js or internet needs to run tools/gpu/device-run.sh in a
# checkout of this repo (the lent H100: no node, no internet, 64 MiB per call; docs/gpu.md):
#   .gpu/node.xz        this machine's node binary
#   .gpu/app.tar.xz     the built node (dist/, migrations/, config/, package.json) with the
#                       production node_modules only, onnxruntime-node cut to linux/x64
#                       (its libonnxruntime.so.1 compressed inside) and better-sqlite3 to its addon
#   .gpu/slices.tar     a few real series from ../shared/data (JPEG-LS: already compressed)
#   .gl/*.deb           the Vulkan loader and GL vendor libraries the device lacks
# The model is not packed: models/ travels with the checkout.
#
#   tools/gpu/pack.sh [SERIES...]     default: two JPEG-LS series of rsna-series-jpegls
# Environment: GPU_DATA (folder holding the series; default ../shared/data/rsna-series-jpegls).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
data=${GPU_DATA:-$root/../shared/data/rsna-series-jpegls}
series=("$@")
[ ${#series[@]} -gt 0 ] || series=(ID_3ee0bf5d61 ID_a52a0112d5)
mkdir -p .gpu .gl
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

echo "build"
npx tsc -p .

# The binary changes only with Node.js itself: keep the last one when the version matches.
# Stripped (symbols and debug info: 2 MiB less once compressed); addons link against its
# dynamic symbols, which strip keeps.
if [ "$(cat .gpu/node.version 2>/dev/null)" != "$(node --version)" ] || [ ! -s .gpu/node.xz ]; then
  echo "node $(node --version) -> .gpu/node.xz"
  strip -o "$stage/node" "$(readlink -f "$(command -v node)")"
  xz -T2 -9e -c "$stage/node" > .gpu/node.xz
  node --version > .gpu/node.version
fi

echo "app bundle -> .gpu/app.tar.xz"
mkdir -p "$stage/app"
cp -a dist migrations config package.json "$stage/app/"
# Production packages only: npm lists their folders; nested ones travel with their parent.
# npm ls exits 1 over problems it also prints (an extraneous package, say): the list decides.
{ npm ls --omit=dev --all --parseable 2>/dev/null || true; } | sed "s|^$root/||" | grep '^node_modules/' | sort -u |
  awk 'NR == 1 || index($0, prev "/") != 1 { print; prev = $0 }' > "$stage/packages"
grep -qx 'node_modules/onnxruntime-node' "$stage/packages" || { echo "npm ls listed no onnxruntime-node: run npm ci first" >&2; exit 1; }
tar -cf - \
  --exclude='node_modules/onnxruntime-node/bin/napi-v6/darwin' \
  --exclude='node_modules/onnxruntime-node/bin/napi-v6/win32' \
  --exclude='node_modules/onnxruntime-node/bin/napi-v6/linux/arm64' \
  --exclude='node_modules/better-sqlite3/deps' \
  --exclude='node_modules/better-sqlite3/src' \
  --exclude='node_modules/better-sqlite3/build/Release/obj*' \
  --exclude='node_modules/better-sqlite3/build/Release/*.a' \
  --exclude='node_modules/better-sqlite3/build/Release/test_extension.node' \
  --exclude='node_modules/better-sqlite3/build/deps' \
  --exclude='*.map' --exclude='*.ts' --exclude='*.cts' --exclude='*.mts' --exclude='*.md' \
  -T "$stage/packages" |
  tar -xf - -C "$stage/app"
find "$stage/app/dist" -name '*.map' -delete
tar -C "$stage" -cf - app | xz -T2 -9e > .gpu/app.tar.xz

echo "slices (${series[*]}) -> .gpu/slices.tar"
tar -C "$data" -cf .gpu/slices.tar "${series[@]}"

debs=(libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
if [ "$(ls .gl/*.deb 2>/dev/null | wc -l)" -lt ${#debs[@]} ]; then
  echo "Vulkan loader debs -> .gl/"
  # amd64 lists of their own, so that an arm64 host packs the device's architecture too.
  mkdir -p /tmp/amd64/partial
  o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64)
  apt-get "${o[@]}" update -qq
  (cd .gl && apt-get "${o[@]}" download "${debs[@]}")
fi

# What a device call carries: the working tree (tracked and untracked files git does not
# ignore) plus .gpu and .gl; the limit is 64 MiB.
tree=$(git ls-files -z --cached --others --exclude-standard | xargs -0 stat -c %s 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')
packed=$(du -cb .gpu .gl | tail -1 | cut -f1)
ls -l .gpu .gl
awk -v t="$tree" -v p="$packed" 'BEGIN {
  printf "travels: working tree %.1f MiB + .gpu/.gl %.1f MiB = %.1f MiB of 64\n", t / 2^20, p / 2^20, (t + p) / 2^20
  if (t + p > 62 * 2^20) { print "too close to the 64 MiB limit: pack fewer series"; exit 1 }
}'

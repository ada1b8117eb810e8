#!/usr/bin/env bash
# Installs ich-triage as a systemd service (run as root after tools/setup.sh has built it):
#   sudo tools/install.sh              install or upgrade, then (re)start the service
#   sudo tools/install.sh --no-start   install without starting
#   sudo tools/install.sh --uninstall  stop and remove the service and program (keeps config and data)
#   sudo tools/install.sh --uninstall --purge   also remove /etc/ich-triage and /var/lib/ich-triage
# Layout: program in /opt/ich-triage, config in /etc/ich-triage/ich-triage.yaml (kept on
# upgrade), data in /var/lib/ich-triage, service user ich-triage.
set -euo pipefail

# The ICH_* variables exist for tests that install into a temporary root.
prefix=${ICH_PREFIX:-/opt/ich-triage}
etc=${ICH_ETC:-/etc/ich-triage}
data=${ICH_DATA:-/var/lib/ich-triage}
unit_dir=${ICH_UNIT_DIR:-/etc/systemd/system}
user=${ICH_USER:-ich-triage}
start=true uninstall=false purge=false
for arg in "$@"; do
  case "$arg" in
    --no-start) start=false ;;
    --uninstall) uninstall=true ;;
    --purge) purge=true ;;
    *) echo "unknown option $arg" >&2; exit 64 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "run as root (sudo $0)" >&2; exit 77; }
have_systemd() { [ -z "${ICH_NO_SYSTEMD:-}" ] && [ -d /run/systemd/system ]; }

if $uninstall; then
  if have_systemd; then systemctl disable --now ich-triage.service 2>/dev/null || true; fi
  rm -rf "$unit_dir/ich-triage.service" "$unit_dir/ich-triage.service.d" "$prefix"
  if $purge; then rm -rf "$etc" "$data"; userdel "$user" 2>/dev/null || true; fi
  have_systemd && systemctl daemon-reload
  echo "ich-triage removed$($purge && echo ', with its config and data' || echo "; config in $etc and data in $data kept")"
  exit 0
fi

src=$(cd "$(dirname "$0")/.." && pwd)
[ -f "$src/dist/cli/main.js" ] || { echo "build first: tools/setup.sh" >&2; exit 1; }
node_major=$(/usr/bin/node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
[ "$node_major" -ge 20 ] || { echo "/usr/bin/node must be Node.js 20 or newer" >&2; exit 1; }

id "$user" >/dev/null 2>&1 || useradd --system --home-dir "$data" --no-create-home --shell /usr/sbin/nologin "$user"
group=$(id -gn "$user")

# Program: replaced as a whole on upgrade (the service is stopped meanwhile by the restart below).
staging="$prefix.new"
rm -rf "$staging"
mkdir -p "$staging"
cp -a "$src/dist" "$src/node_modules" "$src/migrations" "$src/config" "$src/models" "$src/systemd" "$src/package.json" "$src/README.md" "$staging/"
[ -d "$src/assets" ] && cp -a "$src/assets" "$staging/"
cp "$src/package-lock.json" "$staging/"
# Test tools stay behind; nothing is downloaded (prune only deletes).
(cd "$staging" && npm prune --omit=dev --no-audit --no-fund >/dev/null)
chown -R root:root "$staging"
chmod -R go-w "$staging"
rm -rf "$prefix.old"
[ -d "$prefix" ] && mv "$prefix" "$prefix.old"
mv "$staging" "$prefix"
rm -rf "$prefix.old"

# Config: written once; an upgrade keeps the hospital's file.
install -d -m 0750 -o root -g "$group" "$etc"
if [ ! -f "$etc/ich-triage.yaml" ]; then
  sed -e "s#dataDir: ../var#dataDir: $data#" -e "s#path: ../models/#path: $prefix/models/#" \
    "$prefix/config/ich-triage.example.yaml" > "$etc/ich-triage.yaml"
  chown root:"$group" "$etc/ich-triage.yaml"
  chmod 0640 "$etc/ich-triage.yaml"
  echo "wrote $etc/ich-triage.yaml: edit it (AE title, port, destinations, email), then: systemctl restart ich-triage"
fi
/usr/bin/node "$prefix/dist/cli/main.js" check-config --config "$etc/ich-triage.yaml"
install -d -m 0700 -o "$user" -g "$group" "$data"

install -d "$unit_dir"
# The unit names the standard paths; a custom layout gets them rewritten.
sed -e "s#/opt/ich-triage#$prefix#g" -e "s#/etc/ich-triage#$etc#g" -e "s#/var/lib/ich-triage#$data#g" -e "s#^User=ich-triage#User=$user#" -e "s#^Group=ich-triage#Group=$group#" \
  "$prefix/systemd/ich-triage.service" > "$unit_dir/ich-triage.service"
chmod 0644 "$unit_dir/ich-triage.service"
port=$(/usr/bin/node "$prefix/dist/cli/main.js" check-config --config "$etc/ich-triage.yaml" --get dicom.port)
if [ "$port" -lt 1024 ]; then
  install -d "$unit_dir/ich-triage.service.d"
  install -m 0644 "$prefix/systemd/ich-triage-low-port.conf" "$unit_dir/ich-triage.service.d/low-port.conf"
else
  rm -f "$unit_dir/ich-triage.service.d/low-port.conf"
fi

if have_systemd; then
  systemctl daemon-reload
  systemctl enable ich-triage.service >/dev/null
  if $start; then
    systemctl restart ich-triage.service
    systemctl --no-pager status ich-triage.service | head -n 5
  fi
else
  echo "systemd is not running here: unit installed, not started"
fi
echo "ich-triage installed in $prefix"

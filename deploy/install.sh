#!/usr/bin/env bash
# Install GridEdge on a bare Debian 12 edge box: user, directories, venv, config, mosquitto, systemd unit.
#   sudo deploy/install.sh            # from a checkout (or an unpacked release) of the repository
# Re-running it upgrades the code and the venv; it never overwrites /etc/gridedge or the journal.
# docs/install.md explains each step and how to do it by hand.
set -euo pipefail

SRC="$(cd "$(dirname "$0")/.." && pwd)"
APP=/opt/gridedge/app
VENV=/opt/gridedge/venv
ETC=/etc/gridedge
DATA=/var/lib/gridedge
USER_NAME=gridedge

if [ "$(id -u)" != 0 ]; then
  echo "install.sh: run as root (sudo $0)" >&2
  exit 1
fi

echo "== Debian packages"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  python3 python3-venv python3-dev gcc mosquitto mosquitto-clients >/dev/null

echo "== user and directories"
if ! id "$USER_NAME" >/dev/null 2>&1; then
  useradd --system --home-dir "$DATA" --no-create-home --shell /usr/sbin/nologin "$USER_NAME"
fi
install -d -o root -g root -m 0755 /opt/gridedge "$APP"
install -d -o root -g "$USER_NAME" -m 0750 "$ETC" "$ETC/secrets"
install -d -o "$USER_NAME" -g "$USER_NAME" -m 0750 "$DATA"

echo "== code (read-only to the service) and venv"
rm -rf "${APP:?}.new"
install -d -m 0755 "$APP.new"
cp -r "$SRC/edge.py" "$SRC/requirements.txt" "$SRC/requirements-build.txt" "$SRC/pyproject.toml" "$SRC/gateway" \
  "$SRC/adapters" "$SRC/detectors" "$SRC/rules" "$SRC/docs" "$APP.new/"
find "$APP.new" -name __pycache__ -prune -exec rm -rf {} +
# Fetched models survive the upgrade (backbone_fetch below checks them and fetches only what is missing).
if [ -d "$APP/.models" ]; then cp -r "$APP/.models" "$APP.new/"; fi
rm -rf "$APP.old"
mv "$APP" "$APP.old"
mv "$APP.new" "$APP"
rm -rf "$APP.old"
# Debian's python3 (installed above), not whichever python3 comes first on root's PATH: a venv made
# from an interpreter under /root (pyenv, say) cannot be run by the service user. A venv made from
# another interpreter (or an older Debian python) is made anew.
PYTHON=/usr/bin/python3
if [ "$(readlink -f "$VENV/bin/python" 2>/dev/null)" != "$(readlink -f "$PYTHON")" ]; then
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --no-cache-dir --upgrade pip
"$VENV/bin/pip" install --quiet --no-cache-dir -r "$APP/requirements.txt" -r "$APP/requirements-build.txt"
# The rules' hot path compiled with mypyc into $APP/.native (rules/native.py); interpreted if this fails.
(cd "$APP" && "$VENV/bin/python" -m rules.native_build >/dev/null 2>&1) \
  || echo "install.sh: the rules could not be compiled; they run interpreted (slower)" >&2
# The still-image flame network into $APP/.models (detectors/backbone_fetch.py: pinned and sha256-checked).
(cd "$APP" && "$VENV/bin/python" -m detectors.backbone_fetch >/dev/null 2>&1) \
  || echo "install.sh: the still-image flame network could not be fetched; still images get the colour model" >&2
"$VENV/bin/python" -m compileall -q "$APP" >/dev/null

echo "== configuration (kept when it exists)"
if [ ! -e "$ETC/edge.yaml" ]; then
  cp -r "$SRC/config/." "$ETC/"
  rm -f "$ETC/mosquitto.conf"
fi
if [ ! -s "$ETC/secrets/mqtt_password" ]; then
  (umask 0037 && head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$ETC/secrets/mqtt_password")
fi
if [ ! -e "$ETC/gridedge.env" ]; then
  cat > "$ETC/gridedge.env" <<ENV
# Overrides of $ETC/edge.yaml for this box (GRIDEDGE_<SECTION>__<KEY>=value; docs/configuration.md).
GRIDEDGE_GATEWAY__DATA_DIR=$DATA
GRIDEDGE_MQTT__EMBEDDED_BROKER=off
GRIDEDGE_MQTT__USERNAME=$USER_NAME
GRIDEDGE_MQTT__PASSWORD=file:$ETC/secrets/mqtt_password
# The HTTP API on 127.0.0.1:8080: /healthz and /readyz; set GRIDEDGE_API__TOKEN=file:… to open the rest
GRIDEDGE_API__PORT=8080
# Per-component log levels, e.g. GRIDEDGE_LOG_LEVELS=gridedge.mqtt=debug,gridedge.journal=warning
ENV
fi
chown -R root:"$USER_NAME" "$ETC"
chmod -R u=rwX,g=rX,o= "$ETC"

echo "== mosquitto with the recommended settings (config/mosquitto.conf)"
if [ ! -e /etc/mosquitto/mosquitto.conf.debian ]; then
  cp /etc/mosquitto/mosquitto.conf /etc/mosquitto/mosquitto.conf.debian
fi
install -m 0644 "$SRC/config/mosquitto.conf" /etc/mosquitto/mosquitto.conf
install -m 0640 -g mosquitto "$SRC/deploy/mosquitto/gridedge.acl" /etc/mosquitto/gridedge.acl
touch /etc/mosquitto/passwd
chown root:mosquitto /etc/mosquitto/passwd
chmod 0640 /etc/mosquitto/passwd
mosquitto_passwd -b /etc/mosquitto/passwd "$USER_NAME" "$(cat "$ETC/secrets/mqtt_password")"
systemctl restart mosquitto

echo "== systemd unit"
install -m 0644 "$SRC/deploy/gridedge.service" /etc/systemd/system/gridedge.service
systemctl daemon-reload
# The config as the service will see it (its user, its environment file); stop here on a problem.
# shellcheck disable=SC2016  # the single-quoted script expands its own positional arguments
runuser -u "$USER_NAME" -- bash -c 'set -a; . "$1"; set +a; exec "$2" "$3" check --config "$4"' \
  check "$ETC/gridedge.env" "$VENV/bin/python" "$APP/edge.py" "$ETC/edge.yaml"
systemctl enable --now gridedge.service
echo "installed: systemctl status gridedge · journalctl -u gridedge -f · curl http://127.0.0.1:8080/healthz"

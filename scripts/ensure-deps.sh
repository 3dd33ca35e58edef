#!/usr/bin/env bash
# Installs what the gateway's demo and tests need on a fresh Debian machine with Node 20:
# npm packages (npm ci), when missing Debian's influxdb, victoria-metrics, mosquitto-clients,
# chromium and chromium-headless-shell (console browser tests), nats-server and python3-aiosmtpd
# (the alarm e-mail tests' SMTP server), and the built console (console/dist).
# Without root or apt it says exactly what to install and fails.
set -euo pipefail
cd "$(dirname "$0")/.."

need_node_modules() {
  [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]
}
if need_node_modules; then
  echo "ensure-deps: installing npm packages (npm ci)" >&2
  npm ci --no-audit --no-fund >&2
fi

# Debian package → the command it provides. The demo needs only InfluxDB; the tests need them all
# (openssl for `citygw cert` and the TLS tests, chromium and chromium-headless-shell for the
# console's browser tests, nats-server for the cluster mode tests, python3-aiosmtpd for the e-mail tests). The cluster demo (--demo-cluster) needs InfluxDB and nats-server.
# The bench (--bench) needs InfluxDB, the Mosquitto broker for its peer baseline and nats-server for --cluster.
declare -A provides=([influxdb]=influxd [victoria-metrics]=victoria-metrics [mosquitto-clients]=mosquitto_pub [chromium]=chromium [chromium-headless-shell]=chromium-headless-shell [openssl]=openssl [mosquitto]=mosquitto [nats-server]=nats-server)
# Debian package → the Python module it provides to the system python (/usr/bin/python3).
declare -A python_modules=([python3-aiosmtpd]=aiosmtpd)
wanted=(influxdb victoria-metrics mosquitto-clients chromium chromium-headless-shell openssl nats-server python3-aiosmtpd)
[ "${1:-}" = "--demo" ] && wanted=(influxdb)
[ "${1:-}" = "--demo-cluster" ] && wanted=(influxdb nats-server)
[ "${1:-}" = "--bench" ] && wanted=(influxdb mosquitto nats-server)
packages=()
for p in "${wanted[@]}"; do
  if [ -n "${python_modules[$p]:-}" ]; then
    /usr/bin/python3 -c "import ${python_modules[$p]}" >/dev/null 2>&1 || packages+=("$p")
  else
    command -v "${provides[$p]}" >/dev/null 2>&1 || packages+=("$p")
  fi
done

if [ ${#packages[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "ensure-deps: installing Debian packages: ${packages[*]}" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >&2
  else
    echo "ensure-deps: missing Debian packages: ${packages[*]}" >&2
    echo "ensure-deps: install them with: sudo apt-get install ${packages[*]}" >&2
    exit 1
  fi
fi

# The demo runs the gateway from the sources (tsx) and needs only the console; tests and the bench
# also start the compiled gateway the way `npm start` does.
if [ "${1:-}" = "--demo" ] || [ "${1:-}" = "--demo-cluster" ]; then bash scripts/build-console.sh; else bash scripts/build.sh; fi

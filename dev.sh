#!/usr/bin/env bash
# Masar on a fresh Debian 12 / Raspberry Pi OS machine:
#   ./dev.sh demo   set everything up, then run `masar demo`
#   ./dev.sh test   set everything up, then run ruff, mypy, bandit, pip-audit and the whole test suite
# Both are safe to run again: each step checks what is already there.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
VENV="$ROOT/.venv"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

install_system_packages() {
    local wanted=("$@") missing=()
    for pkg in "${wanted[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        say "installing Debian packages: ${missing[*]}"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-upgrade "${missing[@]}"
    fi
}

python_ok() { python3 -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; }

setup() {
    local packages=(mosquitto fonts-dejavu-core iproute2)  # the font: partner PDFs (Latin and Arabic); ip: tests/faults
    # Badge readers: pcscd and its virtual reader (tests, demo); pyscard is compiled from
    # source against libpcsclite-dev. The tests start a pcscd of their own.
    packages+=(pcscd libpcsclite-dev vsmartcard-vpcd gcc python3-dev)
    # The touchscreen: Chromium shows it (kiosk mode on a Pi; Playwright drives it in the
    # tests), Noto fonts draw Arabic and Tifinagh.
    packages+=(chromium fonts-noto-core fonts-noto-color-emoji)
    python_ok || packages+=(python3 python3-venv)
    if [ "${1:-}" = test ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
        packages+=(postgresql)
    fi
    if [ "${1:-}" = test ] && ! command -v systemd-analyze >/dev/null; then
        packages+=(systemd)  # the unit files are linted with systemd-analyze verify
    fi
    install_system_packages "${packages[@]}"
    python_ok || { echo "Masar needs Python 3.11 or newer with venv" >&2; exit 1; }
    if [ ! -x "$VENV/bin/python" ]; then
        say "creating the virtualenv in .venv"
        python3 -m venv "$VENV"
    fi
    local stamp="$VENV/.masar-installed"
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
        say "installing Python dependencies"
        "$VENV/bin/python" -m pip install -q --upgrade pip
        "$VENV/bin/python" -m pip install -q -e ".[dev]"
        touch "$stamp"
    fi
}

postgres_answers() {  # trust auth on 127.0.0.1 as user postgres?
    "$VENV/bin/python" - "$1" <<'PY' 2>/dev/null
import sys, psycopg
psycopg.connect(sys.argv[1], connect_timeout=3).close()
PY
}

# The hub's tests need a PostgreSQL server. Use $MASAR_TEST_POSTGRES_URL, or the one on
# 127.0.0.1:5432 if it lets user postgres in, or else start a private one in var/postgres.
ensure_postgres() {
    if [ -n "${MASAR_TEST_POSTGRES_URL:-}" ]; then return; fi
    local url="postgresql://postgres@127.0.0.1:5432/postgres"
    if postgres_answers "$url"; then export MASAR_TEST_POSTGRES_URL="$url"; return; fi
    local bin data port=55432 run=()
    bin=$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")
    data="$ROOT/var/postgres"
    if [ "$(id -u)" -eq 0 ]; then run=(runuser -u postgres --); fi  # pg_ctl refuses root
    mkdir -p "$data"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$data" && chmod 700 "$data"
    if [ ! -f "$data/PG_VERSION" ]; then
        say "creating a private PostgreSQL cluster in var/postgres"
        "${run[@]}" "$bin/initdb" -D "$data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 \
            --no-sync >/dev/null
    fi
    url="postgresql://postgres@127.0.0.1:$port/postgres"
    if ! postgres_answers "$url"; then
        say "starting PostgreSQL on 127.0.0.1:$port"
        "${run[@]}" "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w -o \
            "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$data" start >/dev/null
    fi
    export MASAR_TEST_POSTGRES_URL="$url"
}

# Known vulnerabilities of the installed packages (pip-audit asks PyPI's JSON API for each
# name and version). A finding fails the run unless it is answered in ANSWERED_VULNERABILITIES
# ("--ignore-vuln ID" with the reason beside it). Packages the service could not answer for are
# said plainly as not audited: where only PyPI's package index is reachable, that is all of them.
ANSWERED_VULNERABILITIES=()
audit_dependencies() {
    local report="$ROOT/var/pip-audit.json" status=0
    mkdir -p "$ROOT/var"
    rm -f "$report"
    timeout 900 "$VENV/bin/pip-audit" --progress-spinner off --skip-editable --format json \
        --output "$report" "${ANSWERED_VULNERABILITIES[@]}" 2>"$ROOT/var/pip-audit.log" || status=$?
    "$VENV/bin/python" - "$report" "$status" "$ROOT/var/pip-audit.log" <<'PY'
import json, sys
from pathlib import Path
report, status, log = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
if not report.is_file():
    tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.is_file() else []
    print(f"pip-audit: NOT AUDITED, it could not run (exit {status}): {' '.join(tail)}")
    sys.exit(0)
dependencies = json.loads(report.read_text())["dependencies"]
skipped = [d for d in dependencies if "skip_reason" in d]
found = [(d["name"], d["version"], v["id"]) for d in dependencies for v in d.get("vulns", [])]
audited = len(dependencies) - len(skipped)
for name, version, vulnerability in found:
    print(f"pip-audit: {name} {version}: {vulnerability}")
print(f"pip-audit: {audited} of {len(dependencies)} packages audited, {len(found)} known "
      f"vulnerabilities")
if skipped:
    reasons = sorted({d["skip_reason"].split(":")[0] for d in skipped})
    print(f"pip-audit: NOT AUDITED: {len(skipped)} packages ({'; '.join(reasons)})")
sys.exit(1 if found else 0)
PY
}

case "${1:-}" in
    demo)
        setup demo
        shift
        exec "$VENV/bin/masar" demo "$@"
        ;;
    test)
        setup test
        ensure_postgres
        shift
        say "ruff"
        "$VENV/bin/ruff" check .
        say "mypy"
        "$VENV/bin/mypy"
        say "bandit"
        "$VENV/bin/bandit" -q -c pyproject.toml -r protocol kiosk hub provisioning masar
        say "pip-audit"
        audit_dependencies
        say "pytest (PostgreSQL: $MASAR_TEST_POSTGRES_URL)"
        exec "$VENV/bin/pytest" "$@"
        ;;
    *)
        echo "usage: ./dev.sh demo | ./dev.sh test [pytest options]" >&2
        exit 2
        ;;
esac

#!/usr/bin/env bash
# Installs (or upgrades) fieldsurvey on one Debian 12 / Ubuntu 24.04 server: PostgreSQL and
# Caddy from the system's packages, the release wheel in /opt/fieldsurvey/venv, a system user,
# the database and its role, systemd units, HTTPS. Idempotent: run it again with a new wheel to
# upgrade (the database is migrated, every row kept). docs/deploying.md explains each step.
#
#   sudo deploy/install.sh --domain survey.example.org --email it@example.org [--wheel FILE]
#   sudo deploy/install.sh --address 192.0.2.10 [--wheel FILE]     # LAN or IP: Caddy's own CA
#
# Options: --workers N (server processes, default 2), --admin-email E (the first
# administrator, default admin@DOMAIN or admin@fieldsurvey.local), --wheel FILE (default: the
# newest dist/fieldsurvey-*.whl beside this script's folder).
# --root DIR writes every file under DIR instead of / and touches nothing else of the machine
# (no apt, no user, no systemctl; PostgreSQL is reached with PGHOST/PGPORT/PGUSER as given):
# what the tests run (tests/production/test_production.py).
set -euo pipefail

DOMAIN="" EMAIL="" ADDRESS="" WHEEL="" WORKERS=2 WORKERS_GIVEN="" ADMIN_EMAIL="" ROOT=""
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

usage() { sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
die() { echo "install.sh: $*" >&2; exit 1; }
say() { echo "install.sh: $*"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --domain) DOMAIN="${2:?}"; shift 2 ;;
    --email) EMAIL="${2:?}"; shift 2 ;;
    --address) ADDRESS="${2:?}"; shift 2 ;;
    --wheel) WHEEL="${2:?}"; shift 2 ;;
    --workers) WORKERS="${2:?}"; WORKERS_GIVEN=1; shift 2 ;;
    --admin-email) ADMIN_EMAIL="${2:?}"; shift 2 ;;
    --root) ROOT="${2:?}"; shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "install.sh: unknown option $1" >&2; usage 2 ;;
  esac
done

if [ -n "$DOMAIN" ]; then
  [ -n "$EMAIL" ] || die "--domain needs --email (Let's Encrypt's contact for the certificate)"
  SITE="$DOMAIN" TLS="$EMAIL"
elif [ -n "$ADDRESS" ]; then
  SITE="$ADDRESS" TLS="internal"
else
  die "give --domain NAME --email ADDRESS, or --address IP for a LAN install"
fi
[[ "$WORKERS" =~ ^[1-9][0-9]*$ ]] || die "--workers must be a positive number"
ADMIN_EMAIL="${ADMIN_EMAIL:-admin@${DOMAIN:-fieldsurvey.local}}"
if [ -z "$WHEEL" ]; then
  WHEEL="$(find "$HERE/../dist" -maxdepth 1 -name 'fieldsurvey-*.whl' 2>/dev/null | sort -V | tail -n 1)"
fi
if [ -z "$WHEEL" ] || [ ! -f "$WHEEL" ]; then
  die "no wheel: build one with 'make dist' or give --wheel FILE"
fi
[ -n "$ROOT" ] || [ "$(id -u)" = 0 ] || die "run as root (sudo)"

ETC="$ROOT/etc/fieldsurvey"
VENV="$ROOT/opt/fieldsurvey/venv"
UNITS="$ROOT/etc/systemd/system"
ENV_FILE="$ETC/fieldsurvey.env"
MAX_BODY=104857600  # FIELDSURVEY_MAX_SUBMISSION_BYTES: the server's limit, and Caddy's
                    # (a value edited in fieldsurvey.env later is what both use)

# 1. The system's packages (skipped when present).
if [ -z "$ROOT" ]; then
  if ! grep -qE '^(ID=debian|ID=ubuntu)' /etc/os-release; then
    say "warning: tested on Debian 12 and Ubuntu 24.04 only"
  fi
  missing=()
  # default-jre-headless: ODK Validate (forms/odk_validate.py) judges each published form
  for pkg in postgresql caddy python3-venv default-jre-headless; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  fi
  # 2. The service's own user: no login, no home outside its state folder.
  if ! id fieldsurvey >/dev/null 2>&1; then
    useradd --system --user-group --home-dir /var/lib/fieldsurvey --no-create-home \
      --shell /usr/sbin/nologin fieldsurvey
  fi
  systemctl enable --now postgresql >/dev/null
fi

# 3. The release, in its own venv (an upgrade installs the new wheel over the old).
install -d -m 0755 "$ROOT/opt/fieldsurvey"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check --upgrade "$WHEEL"
VERSION="$("$VENV/bin/fieldsurvey" --version)"
say "installed $VERSION"

# 4. The database and its role (Debian's PostgreSQL; a password login over 127.0.0.1). The
# password is made once and kept in the env file, readable by root and the service only.
psql_admin() {
  if [ -n "$ROOT" ]; then psql -X -v ON_ERROR_STOP=1 -qAt "$@"
  else (cd / && runuser -u postgres -- psql -X -v ON_ERROR_STOP=1 -qAt "$@"); fi
}
install -d -m 0750 "$ETC"
if [ ! -f "$ENV_FILE" ]; then
  DB_PASSWORD="$("$VENV/bin/python" -c 'import secrets; print(secrets.token_hex(24))')"
  umask 027
  cat > "$ENV_FILE" <<EOF
# fieldsurvey's settings (docs/configuration.md). Made by deploy/install.sh; kept on upgrade.
DATABASE_URL=postgresql://fieldsurvey:${DB_PASSWORD}@127.0.0.1:${PGPORT:-5432}/fieldsurvey
HOST=127.0.0.1
PORT=8000
FIELDSURVEY_WORKERS=${WORKERS}
FIELDSURVEY_PUBLIC_URL=https://${SITE}
FIELDSURVEY_MAX_SUBMISSION_BYTES=${MAX_BODY}
EOF
  umask 022
fi
# what the options say is set again on every run (a new domain, more workers)
set_env() {
  if grep -q "^$1=" "$ENV_FILE"; then sed -i "s|^$1=.*|$1=$2|" "$ENV_FILE"
  else printf '%s=%s\n' "$1" "$2" >> "$ENV_FILE"; fi
}
set_env FIELDSURVEY_PUBLIC_URL "https://${SITE}"
[ -z "$WORKERS_GIVEN" ] || set_env FIELDSURVEY_WORKERS "$WORKERS"
MAX_BODY="$(sed -n 's/^FIELDSURVEY_MAX_SUBMISSION_BYTES=//p' "$ENV_FILE")"
MAX_BODY="${MAX_BODY:-104857600}"  # the server's default; Caddy's limit follows the server's
DATABASE_URL="$(sed -n 's/^DATABASE_URL=//p' "$ENV_FILE")"
DB_PASSWORD="$(printf '%s' "$DATABASE_URL" | sed -n 's|^postgresql://fieldsurvey:\([^@]*\)@.*|\1|p')"
[ -n "$DB_PASSWORD" ] || die "$ENV_FILE: DATABASE_URL is not fieldsurvey's own (postgresql://fieldsurvey:...)"
if [ "$(psql_admin -d postgres -c "SELECT 1 FROM pg_roles WHERE rolname = 'fieldsurvey'")" != 1 ]; then
  psql_admin -d postgres -c "CREATE ROLE fieldsurvey LOGIN"
fi
psql_admin -d postgres <<<"ALTER ROLE fieldsurvey PASSWORD '${DB_PASSWORD}'"  # not in ps
if [ "$(psql_admin -d postgres -c "SELECT 1 FROM pg_database WHERE datname = 'fieldsurvey'")" != 1 ]; then
  psql_admin -d postgres -c "CREATE DATABASE fieldsurvey OWNER fieldsurvey ENCODING 'UTF8' TEMPLATE template0"
fi

# 5. Caddy's values, the units, the Caddyfile.
cat > "$ETC/caddy.env" <<EOF
# deploy/Caddyfile's values (a drop-in of caddy.service reads this file).
FIELDSURVEY_SITE=${SITE}
FIELDSURVEY_TLS=${TLS}
FIELDSURVEY_UPSTREAMS=127.0.0.1:8000
FIELDSURVEY_MAX_SUBMISSION_BYTES=${MAX_BODY}
EOF
chmod 0644 "$ETC/caddy.env"
install -d -m 0755 "$UNITS/caddy.service.d" "$ROOT/etc/caddy"
install -m 0644 "$HERE/fieldsurvey.service" "$UNITS/fieldsurvey.service"
install -m 0644 "$HERE/caddy-fieldsurvey.conf" "$UNITS/caddy.service.d/fieldsurvey.conf"
install -m 0644 "$HERE/fieldsurvey-backup.service" "$UNITS/fieldsurvey-backup.service"
install -m 0644 "$HERE/fieldsurvey-backup.timer" "$UNITS/fieldsurvey-backup.timer"
if [ -f "$ROOT/etc/caddy/Caddyfile" ] && [ ! -f "$ROOT/etc/caddy/Caddyfile.before-fieldsurvey" ] \
   && ! cmp -s "$HERE/Caddyfile" "$ROOT/etc/caddy/Caddyfile"; then
  cp "$ROOT/etc/caddy/Caddyfile" "$ROOT/etc/caddy/Caddyfile.before-fieldsurvey"
fi
install -m 0644 "$HERE/Caddyfile" "$ROOT/etc/caddy/Caddyfile"

# 6. The schema (under the migrators' lock), then the first administrator, once.
# a command with the service's settings (the env file), as the service's user
run_as_service() {
  local as=()
  [ -n "$ROOT" ] || as=(runuser -u fieldsurvey --)
  # shellcheck disable=SC2016  # $0 and $@ are the inner shell's
  "${as[@]}" bash -c 'set -a; . "$0"; set +a; exec "$@"' "$ENV_FILE" "$@"
}
if [ -z "$ROOT" ]; then
  chgrp fieldsurvey "$ETC" "$ENV_FILE"
  systemctl stop fieldsurvey 2>/dev/null || true  # an upgrade: the old code stops first
  install -d -m 0750 -o fieldsurvey -g fieldsurvey /var/lib/fieldsurvey
fi
(cd "${ROOT:-/}" && run_as_service "$VENV/bin/fieldsurvey" db migrate)
has_admin="$(psql_admin -d fieldsurvey -c "SELECT 1 FROM users WHERE is_admin LIMIT 1")"
if [ "$has_admin" != 1 ]; then
  ADMIN_PASSWORD="$("$VENV/bin/python" -c 'import secrets; print(secrets.token_urlsafe(15))')"
  printf '%s\n' "$ADMIN_PASSWORD" | (cd "${ROOT:-/}" && run_as_service \
    "$VENV/bin/fieldsurvey" user create --email "$ADMIN_EMAIL" --role admin --password-stdin) >/dev/null
  echo
  echo "  The first administrator: $ADMIN_EMAIL"
  echo "  password: $ADMIN_PASSWORD"
  echo "  (shown this once and stored nowhere in clear: write it down, then change it)"
  echo
fi

# 7. Start (or restart) the server and Caddy.
if [ -z "$ROOT" ]; then
  systemctl daemon-reload
  systemctl enable --now fieldsurvey >/dev/null
  systemctl restart fieldsurvey
  systemctl enable caddy >/dev/null
  systemctl restart caddy
fi
# the nightly backup runs once its passphrase is there (docs/backups.md: keep a copy off the machine)
if [ -z "$ROOT" ] && [ -f /etc/fieldsurvey/backup-passphrase ]; then
  systemctl enable --now fieldsurvey-backup.timer >/dev/null
else
  say "nightly backups: write a passphrase to /etc/fieldsurvey/backup-passphrase (mode 0600), then: systemctl enable --now fieldsurvey-backup.timer"
fi
say "$VERSION serves https://${SITE}/ (logs: journalctl -u fieldsurvey -u caddy)"

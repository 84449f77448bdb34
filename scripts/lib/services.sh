# shellcheck shell=bash
# Starts (installing first, on a machine that lacks them) the services the tests and the
# local stack need. Sourced by scripts/test and scripts/stack; every function is idempotent.

log() { printf '[services] %s\n' "$*" >&2; }

# Another apt-get or dpkg run on the machine (an upgrade, a second script) holds dpkg's lock
# for a while: wait up to ten minutes for it rather than fail.
APT_LOCK_WAIT=(-o DPkg::Lock::Timeout=600)

apt_install() {
  if [ "$(id -u)" != 0 ]; then
    log "need root to apt-get install $*"; return 1
  fi
  if [ -z "${_APT_UPDATED:-}" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get "${APT_LOCK_WAIT[@]}" update -qq >/dev/null && _APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get "${APT_LOCK_WAIT[@]}" install -y -qq "$@" >/dev/null
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() { # port seconds name
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    port_open "$1" && return 0
    sleep 0.1
  done
  log "$3 did not come up on port $1 within $2 s"; return 1
}

ensure_postgres() {
  if port_open 5432; then return 0; fi
  if ! command -v pg_ctlcluster >/dev/null; then
    log "installing PostgreSQL"; apt_install postgresql
  fi
  local version
  version=$(find /etc/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n 1)
  log "starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
  wait_port 5432 30 PostgreSQL
}

ensure_redis() {
  if port_open 6379; then return 0; fi
  if ! command -v redis-server >/dev/null; then
    log "installing Redis"; apt_install redis-server
  fi
  log "starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
  wait_port 6379 10 Redis
}

# poppler's pdfinfo, pdftotext and pdftoppm: the PDF tests look at PDFs with them.
ensure_poppler() {
  if command -v pdftotext >/dev/null && command -v pdftoppm >/dev/null && command -v pdfinfo >/dev/null; then
    return 0
  fi
  log "installing poppler-utils (the PDF tests read PDFs with it)"
  apt_install poppler-utils
}

# PostgreSQL as the tests reach it: trust auth for `postgres` on 127.0.0.1.
psql_admin() { psql -X -q -h 127.0.0.1 -U postgres -d postgres "$@"; }

drop_test_databases() {
  local dbs
  dbs=$(psql_admin -At -c "select datname from pg_database where datname like 'td\_test\_%'" 2>/dev/null || true)
  for db in $dbs; do psql_admin -c "drop database if exists $db" >/dev/null 2>&1 || true; done
}

# ---- The Kafka-compatible broker: tansu (see /work/shared/design/DEPENDENCIES.md) ----
# In memory (dynostore): it keeps nothing across a restart, topics included.

TANSU_PORT=9092
TANSU_URL="tcp://127.0.0.1:$TANSU_PORT"

# Prints the path of a tansu binary built with the dynostore engine, installing it if none.
tansu_bin() {
  local bin="" engines=""
  if command -v tansu >/dev/null; then
    bin=$(command -v tansu)
  elif [ -x "$HOME/.cargo/bin/tansu" ]; then
    bin="$HOME/.cargo/bin/tansu"
  fi
  if [ -n "$bin" ]; then
    engines=$("$bin" --help 2>/dev/null | grep '^Storage engines:' || true)
    case "$engines" in
      *dynostore*) printf '%s\n' "$bin"; return 0 ;;
    esac
    log "$bin was built without the dynostore storage engine; reinstalling"
  fi
  log "installing tansu with 'cargo install tansu --locked --features dynostore' (takes about 15 minutes)"
  cargo install tansu --locked --features dynostore --force >&2
  if [ -x "$HOME/.cargo/bin/tansu" ]; then
    printf '%s\n' "$HOME/.cargo/bin/tansu"
  else
    command -v tansu
  fi
}

# Starts tansu on 127.0.0.1:9092 unless something listens there already, detached so it
# outlives the script. TANSU_LOG and TANSU_PIDFILE say where its log and pid go. Sets
# TANSU_STARTED=1 when this call started it, TANSU_STARTED=0 otherwise.
ensure_tansu() {
  TANSU_STARTED=0
  if port_open "$TANSU_PORT"; then return 0; fi
  local bin logfile=${TANSU_LOG:-/tmp/td-tansu.log} pidfile=${TANSU_PIDFILE:-/tmp/td-tansu.pid} pid
  bin=$(tansu_bin)
  mkdir -p "$(dirname "$logfile")" "$(dirname "$pidfile")"
  log "starting tansu on $TANSU_URL (in memory; log: $logfile)"
  printf '\n==== %s: tansu starting\n' "$(date -u +%FT%TZ)" >>"$logfile"
  # Bound to an IP literal: with a host name tansu listens on every interface.
  setsid nohup "$bin" broker \
    --listener-url "$TANSU_URL" --advertised-listener-url "$TANSU_URL" \
    --storage-engine memory://tansu/ </dev/null >>"$logfile" 2>&1 &
  pid=$!
  printf '%s\n' "$pid" >"$pidfile"
  # shellcheck disable=SC2034 # read by the callers
  TANSU_STARTED=1
  if ! wait_port "$TANSU_PORT" 15 tansu; then
    tail -n 20 "$logfile" >&2 || true
    return 1
  fi
}

# Creates the topics of environment ENV (TD__ENVIRONMENT) on the broker at 127.0.0.1:9092,
# 3 partitions each; topics that exist already are left as they are.
create_topics() { # env
  local env=$1 topic out bin
  if ! port_open "$TANSU_PORT"; then log "no broker listens on $TANSU_URL"; return 1; fi
  bin=$(tansu_bin)
  for topic in "order-events-$env" "order-events-$env-dlq" \
    "ticket-distribution-group-events-$env" \
    "all-ticket-distribution-groups-for-order-version-completed-$env"; do
    # tansu answers "Topic with this name already exists." and exit status 1 for an
    # existing topic, and retries for ever when no broker answers: hence the timeout.
    if out=$(timeout 30 "$bin" topic create --broker "$TANSU_URL" --partitions 3 "$topic" 2>&1); then
      log "created topic $topic"
    elif [[ "$out" == *"already exists"* ]]; then
      :
    else
      log "could not create topic $topic: ${out:-no answer from $TANSU_URL}"; return 1
    fi
  done
}

# Creates PostgreSQL database NAME on 127.0.0.1 unless it exists.
ensure_database() { # name
  local name=$1
  if [[ ! "$name" =~ ^[a-z_][a-z0-9_]*$ ]]; then
    log "refusing database name '$name' (lower-case letters, digits and _ only)"; return 1
  fi
  if [ -n "$(psql_admin -At -c "select 1 from pg_database where datname = '$name'")" ]; then
    return 0
  fi
  log "creating database $name"
  # A concurrent creator may win the race; what counts is that the database exists after.
  psql_admin -c "create database $name" >/dev/null 2>&1 ||
    [ -n "$(psql_admin -At -c "select 1 from pg_database where datname = '$name'")" ]
}

# ---- aiosmtpd: the SMTP server the mailer's tests send to (crates/testkit/smtp_server.py) ----

AIOSMTPD_VERSION=1.4.6
TD_VENV="$HOME/.cache/ticket-distribution/venv"

# Makes `python -m aiosmtpd` available: python3's own when it has the package, otherwise a
# virtualenv under $TD_VENV with aiosmtpd $AIOSMTPD_VERSION from PyPI. Exports TD_TEST_PYTHON,
# the python that has it, which the mailer's tests run their server with.
ensure_aiosmtpd() {
  local py
  for py in python3 "$TD_VENV/bin/python"; do
    if command -v "$py" >/dev/null && "$py" -c 'import aiosmtpd' 2>/dev/null; then
      TD_TEST_PYTHON=$(command -v "$py"); export TD_TEST_PYTHON
      return 0
    fi
  done
  log "installing aiosmtpd $AIOSMTPD_VERSION into $TD_VENV"
  if [ ! -x "$TD_VENV/bin/python" ]; then
    mkdir -p "$(dirname "$TD_VENV")"
    if ! python3 -m venv "$TD_VENV" >/dev/null 2>&1; then
      # Debian's python3 keeps venv (ensurepip) in a package of its own.
      rm -rf "$TD_VENV"
      apt_install python3-venv && python3 -m venv "$TD_VENV" || return 1
    fi
  fi
  "$TD_VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    "aiosmtpd==$AIOSMTPD_VERSION" >&2 || return 1
  "$TD_VENV/bin/python" -c 'import aiosmtpd' || return 1
  TD_TEST_PYTHON="$TD_VENV/bin/python"; export TD_TEST_PYTHON
}

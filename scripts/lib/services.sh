# Starts (installing first, on a machine that lacks them) the services the tests and the
# local stack need. Sourced by scripts/test and scripts/stack; every function is idempotent.

log() { printf '[services] %s\n' "$*" >&2; }

apt_install() {
  if [ "$(id -u)" != 0 ]; then
    log "need root to apt-get install $*"; return 1
  fi
  if [ -z "${_APT_UPDATED:-}" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null && _APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
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
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
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

# PostgreSQL as the tests reach it: trust auth for `postgres` on 127.0.0.1.
psql_admin() { psql -X -q -h 127.0.0.1 -U postgres -d postgres "$@"; }

drop_test_databases() {
  local dbs
  dbs=$(psql_admin -At -c "select datname from pg_database where datname like 'td\_test\_%'" 2>/dev/null || true)
  for db in $dbs; do psql_admin -c "drop database if exists $db" >/dev/null 2>&1 || true; done
}

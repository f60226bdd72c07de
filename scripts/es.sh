#!/usr/bin/env bash
# A local single-node Elasticsearch for development and tests (no Docker needed).
#
#   scripts/es.sh fetch    download the pinned distribution from Maven Central and unzip it
#   scripts/es.sh start    fetch if needed, start the node, wait until it is healthy (idempotent)
#   scripts/es.sh stop     stop the node started by `start` (by its pid file) and wait for it
#   scripts/es.sh status   print pid, URL and cluster health; exit 0 if running, 3 if not
#
# The distribution is Elastic's integration-test zip
# (org.elasticsearch.distribution.integ-test-zip:elasticsearch:<version>:zip): the server with
# only the modules transport-netty4, x-pack-core, x-pack-security and apm, and no bundled JDK, so
# it runs on the machine's JDK (ES_JAVA_HOME, default: the `java` on PATH).
#
# Environment:
#   EDUSOC_ES_PORT           HTTP port (default 9200); each port is its own node with its own data
#   EDUSOC_ES_START_TIMEOUT  seconds `start` waits for health yellow/green (default 120)
#   ES_JAVA_OPTS             JVM options (default "-Xms512m -Xmx1g")
#   ES_JAVA_HOME             JDK to run on (default: derived from `java` on PATH; JDK 17+)
#
# Everything lives under .cache/elasticsearch/ in the repository (git-ignored):
#   elasticsearch-<version>/   the unzipped distribution (read-only use)
#   node-<port>/{config,data,logs,tmp,es.pid}
# When run as root, the node runs as the system user `edusoc-es` (Elasticsearch refuses root),
# created on first use; the node folder is owned by that user. When that user cannot enter the
# clone (a clone under root's 0700 home), the node folder moves to /var/tmp/edusoc-es/node-<port>-<id>
# (.cache/elasticsearch/node-<port> links to it) and the distribution is copied there once.
set -euo pipefail

# Pinned: the newest 8.x integ-test-zip on Maven Central that resolves (8.19.22+ do not exist).
ES_VERSION="8.19.21"
ES_COORDS="org.elasticsearch.distribution.integ-test-zip:elasticsearch:${ES_VERSION}:zip"

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$REPO/.cache/elasticsearch"
ES_HOME="$CACHE/elasticsearch-$ES_VERSION"
PORT="${EDUSOC_ES_PORT:-9200}"
NODE="$CACHE/node-$PORT"
PID_FILE="$NODE/es.pid"
URL="http://127.0.0.1:$PORT"
START_TIMEOUT="${EDUSOC_ES_START_TIMEOUT:-120}"
ES_USER="edusoc-es"

log() { printf 'es.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

health() {  # prints the cluster health status, or nothing when the node does not answer
    curl -fsS -m 5 "$URL/_cluster/health?timeout=2s" 2>/dev/null \
        | sed -n 's/.*"status":"\([a-z]*\)".*/\1/p' || true
}

pid_alive() {
    [[ -f "$PID_FILE" ]] || return 1
    local pid
    pid="$(cat "$PID_FILE" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null
}

fetch() {
    if [[ -x "$ES_HOME/bin/elasticsearch" ]]; then
        log "Elasticsearch $ES_VERSION already unpacked in $ES_HOME"
        return 0
    fi
    command -v mvn >/dev/null || die "mvn not found: Maven is needed to fetch $ES_COORDS"
    command -v unzip >/dev/null || die "unzip not found"
    mkdir -p "$CACHE/dist"
    local zip="$CACHE/dist/elasticsearch-$ES_VERSION.zip"
    if [[ ! -s "$zip" ]]; then
        log "fetching $ES_COORDS from Maven Central"
        # -C: fail on a checksum mismatch instead of warning.
        if ! mvn -B -C -Dstyle.color=never dependency:copy -Dartifact="$ES_COORDS" -DoutputDirectory="$CACHE/dist" \
                >"$CACHE/dist/mvn.log" 2>&1; then
            grep -E 'ERROR|BUILD' "$CACHE/dist/mvn.log" | head -n 20 >&2 || true
            die "could not fetch $ES_COORDS with Maven (full output: $CACHE/dist/mvn.log)"
        fi
    fi
    local tmp="$CACHE/.unzip.$$"
    rm -rf "$tmp"
    mkdir -p "$tmp"
    unzip -q "$zip" -d "$tmp"
    mv "$tmp/elasticsearch-$ES_VERSION" "$ES_HOME"
    rm -rf "$tmp"
    log "Elasticsearch $ES_VERSION unpacked in $ES_HOME"
}

java_home() {
    if [[ -n "${ES_JAVA_HOME:-}" ]]; then
        printf '%s' "$ES_JAVA_HOME"
        return
    fi
    local java
    java="$(command -v java)" || die "no java on PATH and ES_JAVA_HOME unset: install a JDK 17+"
    java="$(readlink -f "$java")"
    printf '%s' "${java%/bin/java}"
}

ensure_user() {
    if ! id "$ES_USER" >/dev/null 2>&1; then
        log "creating system user $ES_USER (Elasticsearch refuses to run as root)"
        useradd --system --no-create-home --shell /usr/sbin/nologin "$ES_USER"
    fi
}

# Run as root from a clone under a 0700 home (/root/edusoc), the node's user cannot enter the clone:
# its files then live under $OUTSIDE, and .cache/elasticsearch/node-<port> is a symlink to them (so
# stop/status and bench/ingest.py find the pid file where they always do).
OUTSIDE="/var/tmp/edusoc-es"

place_node_where_its_user_can_reach_it() {
    local probe="$NODE"
    [[ -L "$NODE" ]] && return 0  # placed outside by an earlier start
    while [[ ! -e "$probe" ]]; do probe="$(dirname "$probe")"; done
    runuser -u "$ES_USER" -- test -x "$probe" && return 0
    local key real
    key="$(printf '%s' "$REPO" | sha1sum | cut -c1-8)"
    real="$OUTSIDE/node-$PORT-$key"
    log "$ES_USER cannot enter $probe (a 0700 home?): keeping the node's files in $real"
    mkdir -p "$real"
    chmod 755 "$OUTSIDE"
    if [[ -d "$NODE" ]]; then cp -a "$NODE/." "$real/" && rm -rf "$NODE"; fi
    mkdir -p "$(dirname "$NODE")"
    ln -s "$real" "$NODE"
}

reachable_copy_of_distribution() {  # prints the path of a copy of the distribution the node's user can read
    local copy="$OUTSIDE/elasticsearch-$ES_VERSION"
    if [[ ! -x "$copy/bin/elasticsearch" ]]; then
        log "$ES_USER cannot read $ES_HOME: copying the distribution to $copy"
        mkdir -p "$OUTSIDE"
        chmod 755 "$OUTSIDE"
        rm -rf "$copy.tmp"
        cp -rL "$ES_HOME" "$copy.tmp"
        chmod -R a+rX "$copy.tmp"
        mv "$copy.tmp" "$copy"
    fi
    printf '%s' "$copy"
}

start() {
    if pid_alive; then
        [[ -n "$(health)" ]] || wait_healthy
        log "already running (pid $(cat "$PID_FILE")) at $URL"
        return 0
    fi
    rm -f "$PID_FILE"
    if [[ -n "$(health)" ]]; then
        log "an Elasticsearch not started by this script already answers at $URL; using it"
        return 0
    fi
    fetch
    if [[ "$(id -u)" == 0 ]]; then
        ensure_user
        place_node_where_its_user_can_reach_it
        NODE="$(readlink -f "$NODE")"  # the node is given real paths: it cannot pass through the clone
        PID_FILE="$NODE/es.pid"
    fi
    mkdir -p "$NODE/data" "$NODE/logs" "$NODE/tmp"
    if [[ ! -f "$NODE/config/elasticsearch.yml" ]]; then
        # A per-node copy: Elasticsearch writes its keystore into the config folder.
        rm -rf "$NODE/config"
        cp -r "$ES_HOME/config" "$NODE/config"
    fi
    local jhome
    jhome="$(java_home)"
    [[ -x "$jhome/bin/java" ]] || die "ES_JAVA_HOME=$jhome has no bin/java"

    local -a run_as=()
    if [[ "$(id -u)" == 0 ]]; then
        ensure_user
        chown -R "$ES_USER:" "$NODE"
        run_as=(runuser -u "$ES_USER" --)
    fi
    local es_home="$ES_HOME"
    if [[ "$(id -u)" == 0 ]] && ! runuser -u "$ES_USER" -- test -x "$es_home/bin/elasticsearch"; then
        es_home="$(reachable_copy_of_distribution)"
    fi

    # Single-node discovery skips the production bootstrap checks (vm.max_map_count, file
    # descriptors), so no sysctl is needed. Disk watermarks are off: a dev box with a full disk
    # must not turn indices read-only under the tests.
    local -a settings=(
        -Ecluster.name=edusoc-dev
        -Enode.name="edusoc-$PORT"
        -Enetwork.host=127.0.0.1
        -Ehttp.port="$PORT"
        -Etransport.port="$((PORT + 100))"
        -Ediscovery.type=single-node
        -Expack.security.enabled=false
        -Ecluster.routing.allocation.disk.threshold_enabled=false
        -Epath.data="$NODE/data"
        -Epath.logs="$NODE/logs"
    )
    log "starting Elasticsearch $ES_VERSION at $URL (logs: $NODE/logs)"
    local t0=$SECONDS
    # -d daemonizes once the node is up; -p writes the server's pid. Run from the node folder:
    # the JVM writes gc.log and heap dumps into its working directory.
    if ! (cd "$NODE" && env ES_JAVA_HOME="$jhome" ES_PATH_CONF="$NODE/config" ES_TMPDIR="$NODE/tmp" \
            ES_JAVA_OPTS="${ES_JAVA_OPTS:--Xms512m -Xmx1g}" \
            timeout "$START_TIMEOUT" "${run_as[@]}" "$es_home/bin/elasticsearch" -d -p "$PID_FILE" "${settings[@]}" \
            >"$NODE/logs/startup.out" 2>&1); then
        log "Elasticsearch failed to start; last lines of its output and log:"
        tail -n 40 "$NODE/logs/startup.out" >&2 || true
        tail -n 40 "$NODE/logs/edusoc-dev.log" >&2 2>/dev/null || true
        pid_alive && kill "$(cat "$PID_FILE")" 2>/dev/null || true
        exit 1
    fi
    wait_healthy
    log "started (pid $(cat "$PID_FILE")) in $((SECONDS - t0)) s at $URL"
}

wait_healthy() {
    local deadline=$((SECONDS + START_TIMEOUT)) status=""
    while ((SECONDS < deadline)); do
        status="$(health)"
        [[ "$status" == green || "$status" == yellow ]] && return 0
        if ! pid_alive; then
            log "Elasticsearch exited during start-up; last lines of its log:"
            tail -n 40 "$NODE/logs/edusoc-dev.log" >&2 2>/dev/null || tail -n 40 "$NODE/logs/startup.out" >&2 || true
            exit 1
        fi
        sleep 1
    done
    log "Elasticsearch did not become healthy within ${START_TIMEOUT}s (health: ${status:-no answer}); last log lines:"
    tail -n 40 "$NODE/logs/edusoc-dev.log" >&2 2>/dev/null || true
    exit 1
}

stop() {
    if ! pid_alive; then
        rm -f "$PID_FILE"
        log "not running (no live pid in $PID_FILE)"
        return 0
    fi
    local pid
    pid="$(cat "$PID_FILE")"
    log "stopping pid $pid"
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + 60))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then
        log "pid $pid still alive after 60 s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
        while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
    fi
    rm -f "$PID_FILE"
    log "stopped"
}

status() {
    local h
    h="$(health)"
    if pid_alive; then
        echo "running: pid $(cat "$PID_FILE"), $URL, health ${h:-no answer}, version $ES_VERSION"
        return 0
    fi
    if [[ -n "$h" ]]; then
        echo "an Elasticsearch not started by this script answers at $URL, health $h"
        return 0
    fi
    echo "not running ($URL)"
    return 3
}

case "${1:-}" in
    fetch) fetch ;;
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) echo "usage: $0 start|stop|status|fetch" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# make tempest: run the OpenStack interop guideline's required Tempest tests against Kumo.
#
#   1. a separate virtualenv .venv-tempest with Tempest from PyPI
#      (scripts/tempest-requirements.txt pins it);
#   2. a fresh `kumo up` on a free loopback port in its own state directory
#      (build/tempest/state; or an already running cloud: TEMPEST_URL=http://127.0.0.1:5000
#      TEMPEST_PASSWORD=secret);
#   3. a tempest.conf for it (python -m kumo.tools.tempest_conf);
#   4. `tempest run --load-list` on the list (TEMPEST_LIST, default the 2020.06 "OpenStack
#      Powered Compute" required tests in tests/interop/), extra `tempest run` arguments
#      from ARGS (e.g. ARGS='--regex test_images');
#   5. passed/failed/skipped per service (scripts/tempest_summary.py);
#   6. the cloud it started is stopped and its state removed, pass or fail.
#
# Settings (environment): TEMPEST_LIST (a file; "none" runs ARGS alone, e.g.
# TEMPEST_LIST=none ARGS='--regex tempest.api.identity'), TEMPEST_FILTER (an extended
# regex: only the list's tests it matches, e.g. TEMPEST_FILTER=image), ARGS (more
# `tempest run` arguments; a --regex there adds tests to the list's, it does not narrow it),
# TEMPEST_DATAPLANE (fake: servers only turn ACTIVE and nothing touches the kernel, the
# default; real: the machine's data plane and real servers), TEMPEST_CONCURRENCY (default
# 2), TEMPEST_DIR (default build/tempest), KUMO (the kumo command, default .venv/bin/kumo),
# TEMPEST_VENV (default .venv-tempest), TEMPEST_KEEP=1 keeps the state directory.
# Exit status: 0 when every test that ran passed, 1 otherwise.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
VENV=${TEMPEST_VENV:-$REPO/.venv-tempest}
KUMO=${KUMO:-$REPO/.venv/bin/kumo}
KUMO_PY=${KUMO_PYTHON:-$(dirname "$KUMO")/python}
WORK=${TEMPEST_DIR:-$REPO/build/tempest}
LIST=${TEMPEST_LIST:-$REPO/tests/interop/2020.06-os_powered_compute.txt}
DATAPLANE=${TEMPEST_DATAPLANE:-fake}
CONCURRENCY=${TEMPEST_CONCURRENCY:-2}
ARGS=${ARGS:-}

say() { echo "tempest: $*"; }

# 1. Tempest in its own virtualenv (its requirements clash with Kumo's otherwise).
REQ="$REPO/scripts/tempest-requirements.txt"
if [ ! -x "$VENV/bin/tempest" ] || ! cmp -s "$REQ" "$VENV/.requirements"; then
    say "installing Tempest into $VENV (a few minutes)..."
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip
    "$VENV/bin/pip" install -q -r "$REQ"
    cp "$REQ" "$VENV/.requirements"
fi

mkdir -p "$WORK"
STATE="$WORK/state"
KUMO_PID=""

cleanup() {
    local rc=$?
    if [ -n "$KUMO_PID" ]; then
        say "stopping kumo up (pid $KUMO_PID)"
        kill -TERM "$KUMO_PID" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$KUMO_PID" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$KUMO_PID" 2>/dev/null || true
        wait "$KUMO_PID" 2>/dev/null || true
        if [ "$DATAPLANE" = real ]; then
            # the servers and data plane this cloud made, and its state
            KUMO_STATE_DIR="$STATE" "$KUMO" down --purge || true
        elif [ "${TEMPEST_KEEP:-0}" != 1 ]; then
            rm -rf "$STATE"  # fake data plane: nothing outside the state directory
        fi
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 2. The cloud.
if [ -n "${TEMPEST_URL:-}" ]; then
    URL=$TEMPEST_URL
    PASSWORD=${TEMPEST_PASSWORD:-secret}
    say "using the running cloud at $URL"
else
    PORT=$("$KUMO_PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    URL="http://127.0.0.1:$PORT"
    PASSWORD=secret
    rm -rf "$STATE"
    mkdir -p "$WORK/home"
    # HOME: kumo up also writes ~/.config/openstack/clouds.yaml; keep it out of the
    # real home directory
    declare -a ENV=(HOME="$WORK/home" KUMO_STATE_DIR="$STATE" KUMO_ADMIN_PASSWORD="$PASSWORD"
                    KUMO_VOLUME_BACKENDS="file-1:file,file-2:file" PYTHONUNBUFFERED=1)
    if [ "$DATAPLANE" = real ]; then
        ENV+=(KUMO_DATAPLANE=auto)
    else
        # the API tests' setting: no kernel objects, two fake compute hosts
        ENV+=(KUMO_DATAPLANE=off KUMO_COMPUTE_FAKE_HOSTS=2)
    fi
    say "starting kumo up on $URL (state $STATE, data plane: $DATAPLANE)"
    env "${ENV[@]}" "$KUMO" up --port "$PORT" >"$WORK/kumo.log" 2>&1 &
    KUMO_PID=$!
    for _ in $(seq 1 600); do
        grep -q "^kumo: ready\." "$WORK/kumo.log" && break
        kill -0 "$KUMO_PID" 2>/dev/null || { cat "$WORK/kumo.log"; say "kumo up failed"; exit 1; }
        sleep 0.2
    done
    grep -q "^kumo: ready\." "$WORK/kumo.log" || { say "kumo up not ready after 120 s"; exit 1; }
fi

# 3. tempest.conf
# No `tempest init`: it registers a named workspace in ~/.tempest (and refuses a second
# one of the same name); `tempest run` in this directory with --config-file is enough.
RUN="$WORK/run"
mkdir -p "$RUN/etc"
OPTS=()
[ "$DATAPLANE" = real ] && OPTS+=(--real-servers)
# the cloud's settings (its kumo.yaml, then KUMO_*) give the security compliance options
[ -z "${TEMPEST_URL:-}" ] && OPTS+=(--state-dir "$STATE")
"$KUMO_PY" -m kumo.tools.tempest_conf --url "$URL" --password "$PASSWORD" \
    --out "$RUN/etc/tempest.conf" --log-file "$WORK/tempest.log" "${OPTS[@]}" \
    || { say "could not write tempest.conf (the cloud's log: $WORK/kumo.log)"; exit 1; }
say "wrote $RUN/etc/tempest.conf"

# 4. the run
declare -a RUNARGS=(--config-file "$RUN/etc/tempest.conf" --concurrency "$CONCURRENCY")
if [ "$LIST" != none ]; then
    # Tempest's test ids carry attributes ("...test_x[id-<uuid>,smoke]"), so the list's
    # plain names become anchored regexes for --include-list.
    sed -e 's/\[.*$//' -e '/^[[:space:]]*$/d' -e 's/[.]/\\./g' -e 's/^/^/' \
        -e 's/$/(\\[|$)/' "$LIST" >"$WORK/include.txt"
    if [ -n "${TEMPEST_FILTER:-}" ]; then
        grep -E "$TEMPEST_FILTER" "$LIST" >"$WORK/list.txt" || { say "TEMPEST_FILTER matches nothing"; exit 1; }
        LIST="$WORK/list.txt"
        sed -e 's/\[.*$//' -e '/^[[:space:]]*$/d' -e 's/[.]/\\./g' -e 's/^/^/' \
            -e 's/$/(\\[|$)/' "$LIST" >"$WORK/include.txt"
    fi
    RUNARGS+=(--include-list "$WORK/include.txt")
fi
# shellcheck disable=SC2206
RUNARGS+=($ARGS)
say "tempest run ${RUNARGS[*]}"
START=$(date +%s)
set +e
(cd "$RUN" && "$VENV/bin/tempest" run "${RUNARGS[@]}") >"$WORK/run.log" 2>&1
set -e
END=$(date +%s)

# 5. the figures
(cd "$RUN" && "$VENV/bin/stestr" last --subunit) >"$WORK/last.subunit" 2>/dev/null || true
LISTARG=()
[ "$LIST" != none ] && LISTARG=(--list "$LIST")
"$VENV/bin/python" "$REPO/scripts/tempest_summary.py" "${LISTARG[@]}" \
    --seconds $((END - START)) "$WORK/last.subunit"

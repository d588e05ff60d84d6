#!/usr/bin/env bash
# Build the Docker image with podman and smoke-test it (tests/test_docker_image.py runs this).
#
# There is no Docker engine here: podman builds the Dockerfile on a local Debian bookworm
# base made with debootstrap (cached as localhost/rmaplab-base:bookworm-KEY, the only thing
# kept between runs), runs it with the server on 127.0.0.1 and a free port, and drives the
# API: health (/healthz and the image's HEALTHCHECK), a session from a built-in scenario,
# ops (one refused with 409), the page, a restart (the session survives on the /data
# volume), delete. The container, the image, the volume and the temp dirs are removed at
# the end, whatever happens. Needs root; installs podman & co. with apt when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

log() { printf 'docker-smoke: %s\n' "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (podman with runc, debootstrap)"

export PATH="$PATH:/usr/sbin:/sbin"
missing=()
for tool in podman buildah debootstrap runc; do
    [ -x "/usr/bin/$tool" ] || [ -x "/usr/sbin/$tool" ] || missing+=("$tool")
done
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]} (apt)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        "${missing[@]}"; } > /dev/null
fi

PODMAN=(podman --storage-driver overlay)
SUITE=bookworm
INCLUDE=python3,python3-venv,python3-pip,ca-certificates
shopt -s nullglob
CERTS=(/usr/local/share/ca-certificates/*.crt)
shopt -u nullglob
# The base is keyed by what goes into it: a new recipe or new CA certificates, a new base.
key=$({ echo "$SUITE minbase $INCLUDE recipe-1"; cat "${CERTS[@]}" /dev/null; } \
      | sha256sum | cut -c1-12)
BASE_REPO=localhost/rmaplab-base
BASE_IMAGE=$BASE_REPO:$SUITE-$key
run_id=$$-$RANDOM
IMAGE=localhost/rmaplab-smoke:$run_id
CONTAINER=rmaplab-smoke-$run_id
VOLUME=rmaplab-smoke-$run_id
tmp=$(mktemp -d /tmp/rmaplab-smoke.XXXXXX)

cleanup() {
    local rc=$?
    if [ "$rc" -ne 0 ] && "${PODMAN[@]}" container exists "$CONTAINER" 2> /dev/null; then
        log "container log (last 40 lines):"
        "${PODMAN[@]}" logs --tail 40 "$CONTAINER" >&2 || true
    fi
    "${PODMAN[@]}" rm -f -t 0 "$CONTAINER" > /dev/null 2>&1 || true
    "${PODMAN[@]}" volume rm -f "$VOLUME" > /dev/null 2>&1 || true
    "${PODMAN[@]}" rmi -f "$IMAGE" > /dev/null 2>&1 || true
    if [ "$rc" -ne 0 ]; then  # an interrupted build leaves its working container
        "${PODMAN[@]}" ps -a --external --format '{{.ID}} {{.Names}}' 2> /dev/null \
            | awk '$2 ~ /^rmaplab-base-working-container/ {print $1}' \
            | xargs -r "${PODMAN[@]}" rm -f > /dev/null 2>&1 || true
    fi
    # debootstrap mounts proc and sys in the rootfs: never rm -rf through a mount
    findmnt -rn -o TARGET | grep "^$tmp/" | sort -r | xargs -r umount -l || true
    rm -rf --one-file-system "$tmp"
    if [ "$rc" -eq 0 ]; then
        log "OK in $((SECONDS - started)) s"
    else
        log "FAILED (status $rc) after $((SECONDS - started)) s"
    fi
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# Leftovers of an earlier run that was killed before its cleanup (its pid is gone).
stale() { local pid=${1#*rmaplab-smoke?}; pid=${pid%%-*}; ! kill -0 "$pid" 2> /dev/null; }
for name in $("${PODMAN[@]}" ps -a --format '{{.Names}}' | grep '^rmaplab-smoke-' || true); do
    if stale "$name"; then "${PODMAN[@]}" rm -f -t 0 "$name" > /dev/null 2>&1 || true; fi
done
for name in $("${PODMAN[@]}" volume ls --format '{{.Name}}' | grep '^rmaplab-smoke-' || true); do
    if stale "$name"; then "${PODMAN[@]}" volume rm -f "$name" > /dev/null 2>&1 || true; fi
done
for name in $("${PODMAN[@]}" images --format '{{.Repository}}:{{.Tag}}' \
              | grep '^localhost/rmaplab-smoke:' || true); do
    if stale "$name"; then "${PODMAN[@]}" rmi -f "$name" > /dev/null 2>&1 || true; fi
done

# ----- the base image (cached) -------------------------------------------------------------
if "${PODMAN[@]}" image exists "$BASE_IMAGE"; then
    log "base $BASE_IMAGE (cached)"
else
    log "making base $BASE_IMAGE with debootstrap (once; ~100 s)"
    rootfs=$tmp/rootfs
    if ! debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$rootfs" \
            > "$tmp/debootstrap.log" 2>&1; then
        tail -n 30 "$tmp/debootstrap.log" >&2
        die "debootstrap"
    fi
    # this machine's CA certificates, so that pip inside the build reaches PyPI
    if [ "${#CERTS[@]}" -gt 0 ]; then
        cp "${CERTS[@]}" "$rootfs/usr/local/share/ca-certificates/"
    fi
    chroot "$rootfs" update-ca-certificates > /dev/null 2>&1 || die "update-ca-certificates"
    rm -rf "${rootfs:?}"/var/cache/apt/archives/*.deb "${rootfs:?}"/var/lib/apt/lists/*
    # what python:3.11-slim's config provides and a bare rootfs lacks
    tar -C "$rootfs" --numeric-owner -cf - . | "${PODMAN[@]}" import --quiet \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'CMD ["python3"]' - "$BASE_IMAGE" > /dev/null
    rm -rf --one-file-system "$rootfs"
    log "base made in $((SECONDS - started)) s"
    # older bases (another recipe or other certificates) are dead weight
    "${PODMAN[@]}" images --format '{{.Repository}}:{{.Tag}}' \
        | grep "^$BASE_REPO:" | grep -vx "$BASE_IMAGE" \
        | xargs -r "${PODMAN[@]}" rmi -f > /dev/null 2>&1 || true
fi

# ----- build ---------------------------------------------------------------------------------
log "building $IMAGE"
if ! "${PODMAN[@]}" build --isolation chroot --network host --layers=false --format docker \
        --build-arg "BASE=$BASE_IMAGE" -t "$IMAGE" -f Dockerfile . > "$tmp/build.log" 2>&1; then
    tail -n 40 "$tmp/build.log" >&2
    die "podman build"
fi
config=$("${PODMAN[@]}" image inspect --format '{{.Config.User}} {{json .Config.Healthcheck}}' \
         "$IMAGE")
case $config in
    "10001:10001 "*'"Test"'*) ;;
    *) die "image config: want user 10001:10001 and a HEALTHCHECK, got: $config" ;;
esac
log "built in $((SECONDS - started)) s; $("${PODMAN[@]}" image inspect --format '{{.Size}}' \
    "$IMAGE" | awk '{printf "%d MB", $1 / 1e6}')"

# ----- run -----------------------------------------------------------------------------------
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0));
print(s.getsockname()[1])')
"${PODMAN[@]}" volume create "$VOLUME" > /dev/null
"${PODMAN[@]}" run -d --name "$CONTAINER" --runtime runc --network host \
    --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
    -e UVICORN_HOST=127.0.0.1 -e "UVICORN_PORT=$port" -v "$VOLUME:/data" \
    "$IMAGE" > /dev/null 2> "$tmp/run.log" || { cat "$tmp/run.log" >&2; die "podman run"; }
log "container $CONTAINER on 127.0.0.1:$port"

# ----- drive it ------------------------------------------------------------------------------
BASE_URL=http://127.0.0.1:$port CONTAINER=$CONTAINER PODMAN="${PODMAN[*]}" python3 - <<'EOF'
"""The smoke test proper: the service in the container, through its HTTP API."""

import json
import os
import re
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.request

BASE = os.environ["BASE_URL"]
CONTAINER = os.environ["CONTAINER"]
PODMAN = shlex.split(os.environ["PODMAN"])


def say(text):
    print(f"docker-smoke: {text}", file=sys.stderr, flush=True)


def fail(text):
    say(f"FAIL: {text}")
    sys.exit(1)


def call(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(BASE + path, data=data, method=method,
                                 headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            status, headers, raw = resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        status, headers, raw = err.code, err.headers, err.read()
    is_json = raw and headers.get("content-type", "").startswith("application/json")
    return status, headers, json.loads(raw) if is_json else raw


def expect(status, want, what, body):
    if status != want:
        fail(f"{what}: HTTP {status}, want {want}: {str(body)[:300]}")


def podman(*args):
    return subprocess.run([*PODMAN, *args], capture_output=True, text=True, check=False)


def wait_healthy(deadline_s=60):
    start = time.monotonic()
    while True:
        try:
            status, _, body = call("GET", "/healthz")
            if status == 200 and body.get("status") == "ok":
                return body
        except OSError:
            pass
        state = podman("inspect", "--format", "{{.State.Status}}", CONTAINER).stdout.strip()
        if state not in ("created", "running"):
            fail(f"the container is {state or 'gone'} before /healthz answered")
        if time.monotonic() - start > deadline_s:
            fail(f"/healthz did not answer within {deadline_s} s")
        time.sleep(0.25)


health = wait_healthy()
say(f"/healthz ok: designs {', '.join(health['designs'])}")

# The image's own HEALTHCHECK: podman runs it on demand (no systemd timers here).
check = podman("healthcheck", "run", CONTAINER)
if check.returncode != 0:
    fail(f"HEALTHCHECK: status {check.returncode}: {check.stdout}{check.stderr}")
reported = podman("inspect", "--format", "{{.State.Health.Status}}", CONTAINER).stdout.strip()
if reported and reported != "healthy":
    fail(f"podman reports the container {reported!r}")
say(f"HEALTHCHECK ok (podman reports {reported or 'nothing'})")

# Inside: not root, and only what the service needs.
inside = podman("exec", CONTAINER, "python", "-c",
                "import os, sys; print(os.getuid(), os.getgid(), sep=':'); "
                "print(*sorted(os.listdir('/app')), sep=','); print(sys.version_info[:2]); "
                "print(os.environ['RMAPLAB_DB'], os.path.isfile(os.environ['RMAPLAB_DB']))")
if inside.returncode != 0:
    fail(f"podman exec: {inside.stderr}")
uid, listing, version, db = inside.stdout.strip().splitlines()
if uid != "10001:10001":
    fail(f"the service runs as {uid}, want 10001:10001 (never root)")
if db != "/data/rmaplab.sqlite3 True":
    fail(f"the database is not on the /data volume: RMAPLAB_DB and exists: {db}")
extra = set(listing.split(",")) - {"app", "templates", "scenarios", "pyproject.toml",
                                   "README.md", "rmaplab.egg-info"}
if extra:
    fail(f"/app holds more than the service needs: {sorted(extra)}")
say(f"inside: uid:gid {uid}, python {version}, db {db.split()[0]}, /app = {listing}")

# A session from a built-in scenario, played forward.
status, _, names = call("GET", "/api/scenarios")
expect(status, 200, "GET /api/scenarios", names)
if "s4-aim7-shape" not in [s["name"] for s in names]:
    fail(f"built-in scenario s4-aim7-shape missing: {names}")
status, _, sess = call("POST", "/api/sessions",
                       {"scenario": "s4-aim7-shape",
                        "designs": [{"design": "anon_vma_rfc2"}, {"design": "anon_vma_267"}]})
expect(status, 201, "POST /api/sessions", sess)
sid, length = sess["id"], sess["length"]
for step in range(1, length + 1):
    status, _, sess = call("POST", f"/api/sessions/{sid}/redo")
    expect(status, 200, f"redo to step {step}", sess)
    if sess["step"] != step:
        fail(f"redo: step {sess['step']}, want {step}")
walks = [len(d["walks"][0]["visited"]) for d in sess["view"]["designs"]]
say(f"session {sid[:8]}... played {length} steps; reclaim walks visited {walks}")

# Ops through the API: valid ones, then a refused one (409, the session unchanged).
for op in ({"op": "fork", "pid": 1, "child": 4},
           {"op": "write", "pid": 4, "addr": "0x1000", "value": 404}):
    status, _, sess = call("POST", f"/api/sessions/{sid}/ops", {"op": op})
    expect(status, 200, f"op {op}", sess)
applied = sess["step"]
status, _, refused = call("POST", f"/api/sessions/{sid}/ops",
                          {"op": {"op": "fork", "pid": 77, "child": 78}})
expect(status, 409, "an op on an unknown pid", refused)
status, _, stale = call("POST", f"/api/sessions/{sid}/ops",
                        {"op": {"op": "read", "pid": 1, "addr": "0x1000"},
                         "expected_step": applied - 1})
expect(status, 409, "a stale expected_step", stale)
status, _, sess = call("GET", f"/api/sessions/{sid}")
expect(status, 200, "GET the session", sess)
if sess["step"] != applied:
    fail(f"a refused op changed the session: step {sess['step']}, want {applied}")
say(f"ops applied up to step {applied}; refused: {refused['detail']!r}")

# The laboratory's page and every static file it names.
status, headers, page = call("GET", "/")
expect(status, 200, "GET /", page)
if not headers.get("content-type", "").startswith("text/html"):
    fail(f"GET /: content-type {headers.get('content-type')}")
if b"seed-story" not in page:
    fail("GET /: the page does not carry the built-in scenarios")
assets = sorted(set(re.findall(r'(?:src|href)="(/static/[^"?#]+)', page.decode())))
if len(assets) < 3:
    fail(f"GET /: only {len(assets)} static assets named")
for asset in assets:
    status, _, body = call("GET", asset)
    expect(status, 200, f"GET {asset}", body)
say(f"GET / 200 (html) and its {len(assets)} static assets")

# Persistence: the session survives a restart of the container (SQLite on /data).
restart = podman("restart", "-t", "5", CONTAINER)
if restart.returncode != 0:
    fail(f"podman restart: {restart.stderr}")
wait_healthy()
status, _, after = call("GET", f"/api/sessions/{sid}")
expect(status, 200, "GET the session after a restart", after)
if (after["step"], after["length"]) != (applied, applied):
    fail(f"after a restart: step/length {after['step']}/{after['length']}, want {applied}")
say(f"restarted: the session is still at step {applied}")

status, _, body = call("DELETE", f"/api/sessions/{sid}")
expect(status, 204, "DELETE the session", body)
status, _, body = call("GET", f"/api/sessions/{sid}")
expect(status, 404, "GET a deleted session", body)
say("session deleted")
EOF

#!/usr/bin/env bash
# Exec of /bin/true into a running sandbox, by every route, in one run: `cave exec` (the CLI, a
# Bun start per call), the HTTP API of a warm `cave serve` (bench/exec-api.ts: sequential round
# trips on one keep-alive connection), `crun exec --no-new-privs` (no_new_privs as cave's exec
# sets it) into a running crun container (bench/crun-bundle.ts's bundle, limits and seccomp as
# cave's defaults, running sleep), `nsenter -a` into the cave sandbox's init, and a fresh
# `bwrap … /bin/true` start for the target (issue 5: the API's round trip faster than bwrap's
# start). Usage: CAVE=… BUN=… RUNS=… bench/exec.sh OUTDIR
# Writes OUTDIR/exec-<round>.json (hyperfine: CLI, crun, nsenter, bwrap), OUTDIR/exec-api-<round>.json
# (the same shape, from exec-api.ts) and OUTDIR/exec-notes.txt (what each route gave the command,
# and anything that could not run, verbatim). Needs root (cave's persistent sandboxes, crun, nsenter).
set -euo pipefail
out=$1
: "${CAVE:?} ${BUN:?} ${RUNS:?}"
here=$(cd "$(dirname "$0")" && pwd)
notes=$out/exec-notes.txt
: >"$notes"
rm -f "$out"/exec-[0-9]*.json "$out"/exec-api-[0-9]*.json "$out/exec-hyperfine.log"
note() { echo "$*" | tee -a "$notes" >&2; }

work=$(mktemp -d) && chmod 755 "$work"
# A data directory of its own: the CLI and the server below share it (docs/api.md), and
# nothing of this run is left in /var/lib/cave.
export CAVE_DATA_DIR=$work/data
key=bench-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
ctr=cave-bench-exec
ns=() id="" server_pid="" crun_up="" child=""

# Everything this script started goes, however it ends.
cleanup() {
  set +e
  if [[ -n $child ]]; then kill "$child" 2>/dev/null; wait "$child" 2>/dev/null; fi
  if [[ -n $server_pid ]]; then kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; fi
  [[ -n $id ]] && "${ns[@]}" "$CAVE" rm --force "$id" >/dev/null
  [[ -n $crun_up ]] && "${ns[@]}" crun delete --force "$ctr" >/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# The long steps run in the background and are waited for, so that a signal ends the run at
# once (bash runs a trap only when its foreground command has ended) and cleanup stops them.
waited() {
  "$@" &
  child=$!
  wait "$child"
  child=""
}

# 1. The crun target: the bundle of the hardening rows, exec.json = full.json running sleep.
bundle=$work/bundle
mkdir "$bundle"
"$BUN" "$here/crun-bundle.ts" "$bundle" >&2

# The same workaround as hardening.sh: crun 1.x refuses a hybrid host whose cgroup2 mount has
# any controller enabled, so every command below runs in a private mount namespace without that
# mount (cave takes cgroup v1 either way).
unified=/sys/fs/cgroup/unified
if [[ -n $(cat "$unified/cgroup.controllers" 2>/dev/null) ]] && ! crun --cgroup-manager=disabled run --bundle "$bundle" --config "$bundle/bare.json" cave-bench-probe >"$work/err" 2>&1; then
  note "crun on this host as it is: \`$(tr '\n' ' ' <"$work/err")\` ($unified/cgroup.controllers lists: $(cat "$unified/cgroup.controllers")); every command of this section ran in a private mount namespace with $unified unmounted"
  ns=(unshare --mount --propagation private bash -c "umount $unified && exec \"\$@\"" _)
fi

# What a command started by each route is given: its credentials, capabilities, no_new_privs and
# seccomp mode, and its memory cgroup as it sees it (relative to its cgroup namespace, if any).
confinement() { # confinement < output of `cat /proc/self/status /proc/self/cgroup`
  local s
  s=$(cat)
  echo "$(grep -E '^(Uid|CapEff|NoNewPrivs|Seccomp):' <<<"$s" | tr -s '\t\n' '  ')cgroup $(grep -E '(:memory:|^0::)' <<<"$s" | head -1)"
}
probe=(/bin/cat /proc/self/status /proc/self/cgroup)

"${ns[@]}" crun --cgroup-manager=cgroupfs run --detach --bundle "$bundle" --config "$bundle/exec.json" "$ctr" \
  </dev/null >"$work/crun.log" 2>&1 || {
  note "crun run --detach failed: $(tr '\n' ' ' <"$work/crun.log")"
  exit 1
}
crun_up=1

# 2. The cave target: a sandbox with default limits, started by the CLI.
id=$("${ns[@]}" "$CAVE" create)
"${ns[@]}" "$CAVE" start "$id" >/dev/null
pid=$("$CAVE" inspect "$id" | jq -r .initPid)
[[ $pid =~ ^[0-9]+$ ]] || { note "no init pid for sandbox $id"; exit 1; }

# 3. The server, warm, on the same data directory, on a port the kernel picks.
CAVE_ADMIN_KEY=$key "${ns[@]}" "$CAVE" serve --host 127.0.0.1 --port 0 >"$work/serve.log" 2>&1 &
server_pid=$!
url=""
for _ in $(seq 100); do
  url=$(sed -n 's/^cave: listening on //p' "$work/serve.log")
  [[ -n $url ]] && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
[[ -n $url ]] || { note "cave serve did not start: $(tr '\n' ' ' <"$work/serve.log")"; exit 1; }

# 4. The rows. Each must work once (and its confinement is noted) before any is timed.
bwrap_cmd="bwrap --unshare-all --die-with-parent --new-session --ro-bind / / --tmpfs /tmp --proc /proc --dev /dev --hostname cave /bin/true"
declare -A cmd=(
  [cave-exec]="$CAVE exec $id -- /bin/true"
  [crun-exec]="crun exec --no-new-privs $ctr /bin/true"
  [nsenter]="nsenter -t $pid -a /bin/true"
  [bwrap]="$bwrap_cmd"
)
declare -A via=(
  [cave-exec]="$CAVE exec $id --"
  [crun-exec]="crun exec --no-new-privs $ctr"
  [nsenter]="nsenter -t $pid -a"
)
order=(cave-exec crun-exec nsenter bwrap)
N=() C=()
for n in "${order[@]}"; do
  if "${ns[@]}" ${cmd[$n]} >"$work/err" 2>&1; then
    N+=("$n") C+=("${cmd[$n]}")
    if [[ -n ${via[$n]:-} ]]; then
      "${ns[@]}" ${via[$n]} "${probe[@]}" 2>&1 | confinement >"$work/conf" || true
      note "$n: the command ran with $(cat "$work/conf")"
    fi
  else
    note "$n left out: \`${cmd[$n]}\` failed: $(head -c 300 "$work/err" | tr '\n' ' ')"
  fi
done
api_body=$(jq -cn --args '{cmd: $ARGS.positional}' "${probe[@]}")
if curl -sf -H "Authorization: Bearer $key" -H 'content-type: application/json' -d "$api_body" \
  "$url/v1/sandboxes/$id/exec" >"$work/api.json" 2>"$work/err"; then
  note "api: the command ran with $(jq -r .stdout "$work/api.json" | confinement)"
  api=1
else
  note "api left out: POST $url/v1/sandboxes/$id/exec failed: $(head -c 300 "$work/err" "$work/api.json" | tr '\n' ' ')"
  api=""
fi
((${#N[@]})) || [[ -n $api ]] || { note "no row could run"; exit 1; }

# hyperfine times one command after another, and the API client runs between its runs; on a
# shared machine the load drifts meanwhile, so the runs are split into ROUNDS rounds, each a
# hyperfine run of every row (order rotated by one each round) and an API client run (before it
# in odd rounds, after it in even ones). report.ts merges the rounds.
rounds=${ROUNDS:-10}
per=$(((RUNS + rounds - 1) / rounds))
((per >= 2)) || per=2
note "load average when the exec rows started: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs); $rounds rounds of $per runs per row"
m=${#N[@]}
api_round() {
  [[ -n $api ]] || return 0
  CAVE_URL=$url CAVE_KEY=$key waited "${ns[@]}" "$BUN" "$here/exec-api.ts" "$id" "$per" 2 "$out/exec-api-$1.json" api \
    2>>"$out/exec-hyperfine.log"
}
for ((r = 0; r < rounds; r++)); do
  echo "exec round $((r + 1))/$rounds" >&2
  ((r % 2)) && api_round "$r"
  if ((m)); then
    names=()
    for ((j = 0; j < m; j++)); do
      i=$(((j + r) % m))
      names+=(-n "${N[i]}" "${C[i]}")
    done
    waited "${ns[@]}" hyperfine -N --style basic --warmup 2 --runs "$per" --export-json "$out/exec-$r.json" \
      "${names[@]}" >>"$out/exec-hyperfine.log"
  fi
  ((r % 2)) || api_round "$r"
done
note "load average when they ended: $(cut -d' ' -f1-3 /proc/loadavg)"

#!/usr/bin/env bash
# Runs the startup comparison: usage: CAVE=… NOOP=… SANDBOX_ONLY=… RUNS=… bench/startup.sh OUTDIR
# Writes OUTDIR/startup-root.json, OUTDIR/startup-rootless.json (hyperfine --export-json)
# and OUTDIR/rootless-skipped.txt (peers that uid 65534 may not run here).
set -euo pipefail
out=$1
: "${CAVE:?} ${NOOP:?} ${SANDBOX_ONLY:?} ${RUNS:?}"

# A fresh, world-readable cwd: no ./cave.yaml is picked up, and uid 65534 can enter it.
work=$(mktemp -d) && chmod 755 "$work" && cd "$work"
trap 'rm -rf "$work"' EXIT

# The same isolation, as near as each tool gets: every namespace, a read-only or private
# view of /, fresh /proc, /dev and /tmp, hostname cave. See docs/benchmarks.md for what differs.
# Neither bwrap nor unshare sets cgroup limits or a seccomp filter, so cave's row lifts them
# too; what they cost is measured on its own by bench/hardening.sh.
declare -A cmd=(
  [true]="/bin/true"
  [bun-noop]="$NOOP"
  [cave-version]="$CAVE version"
  [cave-run]="$CAVE run --memory none --cpus none --pids none --seccomp none -- /bin/true"
  [cave-sandbox]="$SANDBOX_ONLY"
  [bwrap]="bwrap --unshare-all --die-with-parent --new-session --ro-bind / / --tmpfs /tmp --proc /proc --dev /dev --hostname cave /bin/true"
  [unshare]="unshare --fork --pid --mount --net --uts --ipc --cgroup --user --map-root-user --mount-proc /bin/true"
)
order=(true bun-noop cave-version cave-sandbox cave-run bwrap unshare)

# -N: no shell between hyperfine and the command, so only the tool's own start is timed.
bench() { # bench JSON PREFIX NAME...
  local json=$1 prefix=$2 args=() n
  shift 2
  for n in "$@"; do args+=(-n "$n" "$prefix${cmd[$n]}"); done
  hyperfine -N --warmup 5 --runs "$RUNS" --export-json "$json" "${args[@]}"
}

bench "$out/startup-root.json" "" "${order[@]}"

# Rootless: the same commands as uid 65534. setpriv's own exec is in every row, and
# "true" under setpriv is the floor to compare against.
asnobody="setpriv --reuid=65534 --regid=65534 --clear-groups "
allowed=()
: >"$out/rootless-skipped.txt"
for n in "${order[@]}"; do
  if $asnobody ${cmd[$n]} >/dev/null 2>"$out/probe.err"; then
    allowed+=("$n")
  else # not fatal: a host may forbid unprivileged user namespaces; show why all the same
    echo "rootless $n skipped: $(head -c 300 "$out/probe.err")" >&2
    echo "$n" >>"$out/rootless-skipped.txt"
  fi
done
rm -f "$out/probe.err"
if ((${#allowed[@]})); then bench "$out/startup-rootless.json" "$asnobody" "${allowed[@]}"; fi

#!/usr/bin/env bash
# What limits and seccomp cost on top of a bare sandbox, for cave and for crun with the same
# limits, all rows in one hyperfine run. Usage: CAVE=… BUN=… RUNS=… bench/hardening.sh OUTDIR
# Writes OUTDIR/hardening-<round>.json (hyperfine), OUTDIR/cgjoin.json (how long joining a cgroup
# takes, by route) and OUTDIR/hardening-notes.txt (what could not run and why, verbatim).
# Needs root: crun here runs rootful, and cgjoin makes cgroups.
set -euo pipefail
out=$1
: "${CAVE:?} ${BUN:?} ${RUNS:?}"
here=$(cd "$(dirname "$0")" && pwd)
notes=$out/hardening-notes.txt
: >"$notes"
note() { echo "$*" | tee -a "$notes" >&2; }

work=$(mktemp -d) && chmod 755 "$work"
trap 'rm -rf "$work"' EXIT

# 1. Joining a fresh cgroup, by route: a cgroup.procs write (v1, and v2 where mounted) against
# clone3 with and without CLONE_INTO_CGROUP. 100 ms of idle before each timed step.
gcc -O2 -Wall -Wextra -o "$work/cgjoin" "$here/cgjoin.c"
modes=()
for c in memory pids cpu; do
  d=$(awk -v c="$c" '$3 == "cgroup" && ("," $4 ",") ~ ("," c ",") { print $2; exit }' /proc/self/mounts)
  [[ -n $d ]] && modes+=("procs:$d")
done
v2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
if [[ -n $v2 ]]; then modes+=("procs:$v2" clone3 "clone3-into:$v2"); else modes+=(clone3); fi
"$work/cgjoin" "${CGJOIN_ITER:-50}" 100 "${modes[@]}" >"$out/cgjoin.json"

# 2. The crun bundle (see crun-bundle.ts for what each config holds).
bundle=$work/bundle
mkdir "$bundle"
"$BUN" "$here/crun-bundle.ts" "$bundle" >&2

# crun 1.x refuses a hybrid host whose cgroup2 mount has any controller enabled, even with
# --cgroup-manager=disabled. Where that happens, every row runs in a private mount namespace
# without that mount: crun then sees plain cgroup v1. cave is not affected (its probe skips a
# cgroup2 mount that lacks memory, pids and cpu, and takes v1 either way).
ns=()
unified=/sys/fs/cgroup/unified
if [[ -n $(cat "$unified/cgroup.controllers" 2>/dev/null) ]] && ! crun --cgroup-manager=disabled run --bundle "$bundle" --config "$bundle/bare.json" cave-bench-probe >"$work/err" 2>&1; then
  note "crun on this host as it is: \`$(tr '\n' ' ' <"$work/err")\` ($unified/cgroup.controllers lists: $(cat "$unified/cgroup.controllers")); every row of this table ran in a private mount namespace with $unified unmounted"
  ns=(unshare --mount --propagation private bash -c "umount $unified && exec \"\$@\"" _)
fi

# Proof that crun applied the limits and the filter (cat of the limit files and /proc/self/status).
if "${ns[@]}" crun --cgroup-manager=cgroupfs run --bundle "$bundle" --config "$bundle/check.json" cave-bench-check >"$work/check" 2>&1; then
  note "crun with full.json's limits and filter, cat inside the container (v1: memory.limit_in_bytes, pids.max, cpu.cfs_quota_us, cpu.cfs_period_us; v2: memory.max, memory.swap.max, pids.max, cpu.max): $(grep -vE '^[A-Za-z_]+:' "$work/check" | tr '\n' ' ')$(grep -E '^(Uid|CapEff|NoNewPrivs|Seccomp):' "$work/check" | tr -s '\t\n' '  ')"
else
  note "crun check failed: $(tr '\n' ' ' <"$work/check")"
fi

# 3. The rows. `none` turns a limit off and makes no cgroup; older cave builds refuse it.
bare="--memory none --cpus none --pids none"
declare -A cmd=(
  [cave-bare]="$CAVE run --seccomp none $bare -- /bin/true"
  [cave-seccomp]="$CAVE run $bare -- /bin/true"
  [cave-limits]="$CAVE run --seccomp none -- /bin/true"
  [cave-full]="$CAVE run -- /bin/true"
)
# crun run deletes the container when it exits, so one id per row can be reused run after run
# (a leftover would make the next run fail, and hyperfine stop): no wrapper, no shell timed.
for v in bare seccomp cgroup limits full; do
  mgr=cgroupfs && [[ $v == bare || $v == seccomp ]] && mgr=disabled
  cmd[crun-$v]="crun --cgroup-manager=$mgr run --bundle $bundle --config $bundle/$v.json cave-bench-$v"
done
order=(cave-bare cave-seccomp cave-limits cave-full crun-bare crun-seccomp crun-cgroup crun-limits crun-full)

# Each row must work once before it is timed; one that cannot is left out, with its error.
# Every row is timed twice: back to back, as in the startup table, and as NAME-idle with 100 ms
# of sleep before each run (hyperfine --prepare, not timed), so that no run finds the cgroup
# rwsem still fast from the run before: the latency of a lone `cave run` (see cgjoin.c).
cd "$work"
P=() N=() C=()
for n in "${order[@]}"; do
  if "${ns[@]}" ${cmd[$n]} >"$work/err" 2>&1; then
    P+=(/bin/true) N+=("$n") C+=("${cmd[$n]}")
  else
    note "$n left out: \`${cmd[$n]}\` failed: $(head -c 300 "$work/err" | tr '\n' ' ')"
  fi
done
((${#N[@]})) || { note "no row could run"; exit 0; }
k=${#N[@]}
for ((i = 0; i < k; i++)); do P+=("sleep 0.1") N+=("${N[i]}-idle") C+=("${C[i]}"); done

# hyperfine times one command after another. On a shared machine the load drifts while it does,
# so the runs are split into ROUNDS rounds, each a hyperfine run of every row, the order rotated
# by one each round; report.ts merges the rounds. Every row then sees the same mix of load.
rounds=${ROUNDS:-10}
per=$(((RUNS + rounds - 1) / rounds))
((per >= 2)) || per=2
note "load average when the hardening rows started: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs); $rounds rounds of $per runs per row"
m=${#N[@]}
for ((r = 0; r < rounds; r++)); do
  preps=() names=()
  for ((j = 0; j < m; j++)); do
    i=$(((j + r) % m))
    preps+=(--prepare "${P[i]}") names+=(-n "${N[i]}" "${C[i]}")
  done
  echo "hardening round $((r + 1))/$rounds" >&2
  "${ns[@]}" hyperfine -N --style basic --warmup 2 --runs "$per" --export-json "$out/hardening-$r.json" \
    "${preps[@]}" "${names[@]}" >>"$out/hardening-hyperfine.log"
done
note "load average when they ended: $(cut -d' ' -f1-3 /proc/loadavg)"

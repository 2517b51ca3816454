#!/usr/bin/env bash
# Startup-latency benchmark: cave next to its peers, all measured in the same run so the
# numbers share one machine state; then what limits and seccomp cost, for cave and for crun
# (bench/hardening.sh); then exec into a running sandbox by CLI, API, crun exec and nsenter
# (bench/exec.sh). Raw JSON goes to bench/results/ (gitignored); the
# table and verdict are written into docs/benchmarks.md. Needs root (apt, and the root run).
# Env: RUNS (default 200, at least 50) runs per command.
set -euo pipefail
cd "$(dirname "$0")/.."
BUN=./node_modules/.bin/bun
OUT=bench/results
RUNS=${RUNS:-200}
(( RUNS >= 50 )) || { echo "RUNS must be at least 50" >&2; exit 2; }

# Peers come from Debian so anyone can get the same versions; install only what is missing
# so a warm machine does no network work.
declare -A pkg_of=([hyperfine]=hyperfine [bwrap]=bubblewrap [unshare]=util-linux [setpriv]=util-linux [crun]=crun [gcc]=gcc [nsenter]=util-linux [jq]=jq [curl]=curl)
missing=()
for tool in "${!pkg_of[@]}"; do
  command -v "$tool" >/dev/null || missing+=("${pkg_of[$tool]}")
done
if ((${#missing[@]})); then
  apt-get update
  apt-get install -y --no-install-recommends $(printf '%s\n' "${missing[@]}" | sort -u)
fi

[[ -x dist/cave ]] || { echo "dist/cave missing: run make build (or make bench)" >&2; exit 1; }
# Only this benchmark's files: bench/db keeps its results here too.
mkdir -p "$OUT" && rm -f "$OUT"/{machine,startup-root,startup-rootless,cgjoin}.json "$OUT"/hardening-* "$OUT"/exec-* "$OUT"/rootless-skipped.txt "$OUT/noop" "$OUT/sandbox-only"

# The Bun floor: an empty program compiled with the same flags as cave (see Makefile).
noop_src=$(mktemp --suffix=.ts)
echo 'console.log("");' >"$noop_src"
$BUN build --compile --minify --bytecode "$noop_src" --outfile "$OUT/noop" >/dev/null
rm -f "$noop_src"
# cave's sandbox code without its CLI (bench/sandbox-only.ts), compiled as dist/cave is.
$BUN scripts/build.ts "$OUT/sandbox-only" bench/sandbox-only.ts >/dev/null

# Facts that explain a difference between two runs of this benchmark.
cat >"$OUT/machine.json" <<JSON
{
  "date": "$(date -u +%Y-%m-%dT%H:%MZ)",
  "kernel": "$(uname -r)",
  "cpus": $(nproc),
  "cpu_model": "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)",
  "debian": "$(cat /etc/debian_version)",
  "bun": "$($BUN --version)",
  "cave": "$(dist/cave version)",
  "commit": "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$([[ -z "$(git status --porcelain -- src ffi schema package.json 2>/dev/null)" ]] || echo '+dirty')",
  "hyperfine": "$(hyperfine --version | cut -d' ' -f2)",
  "bwrap": "$(bwrap --version | cut -d' ' -f2)",
  "util_linux": "$(unshare --version | grep -o '[0-9][0-9.]*' | head -1)",
  "crun": "$(crun --version | sed -n 's/^crun version //p')",
  "loadavg_at_start": "$(cut -d' ' -f1-3 /proc/loadavg)",
  "cgroup": "$(if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then echo v2; else echo v1/hybrid; fi)"
}
JSON
cat "$OUT/machine.json"

RUNS=$RUNS CAVE="$PWD/dist/cave" NOOP="$PWD/$OUT/noop" SANDBOX_ONLY="$PWD/$OUT/sandbox-only" bench/startup.sh "$PWD/$OUT"
RUNS=$RUNS CAVE="$PWD/dist/cave" BUN="$PWD/$BUN" bench/hardening.sh "$PWD/$OUT"
RUNS=$RUNS CAVE="$PWD/dist/cave" BUN="$PWD/$BUN" bench/exec.sh "$PWD/$OUT"
$BUN bench/report.ts "$OUT" docs/benchmarks.md

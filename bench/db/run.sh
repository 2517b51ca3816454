#!/usr/bin/env bash
# bkg-db benchmark: 10k inserts in one transaction and 10k point selects by primary key,
# through cave's SQL pipeline, cave's store, raw libsql and raw bun:sqlite, in one run
# (bench/db/bench.ts). Raw JSON goes to bench/results/db.json (gitignored); the table is
# written between the bench-db markers of docs/benchmarks.md. `make bench-db` runs it.
# Env: ROUNDS (default 7) measured rounds, WARMUP (default 2) discarded rounds.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUN=./node_modules/.bin/bun
mkdir -p bench/results
table=$($BUN bench/db/bench.ts --rounds "${ROUNDS:-7}" --warmup "${WARMUP:-2}" --json bench/results/db.json)
echo "$table"

machine="$(nproc) CPUs, $(uname -r), Bun $($BUN --version), $(date -u +%Y-%m-%d)"
doc=docs/benchmarks.md
start='<!-- bench-db:start -->'
end='<!-- bench-db:end -->'
grep -qF "$start" "$doc" || { echo "$doc has no $start marker" >&2; exit 1; }
# Replace only what lies between the markers; the rest of the file belongs to other benches.
TABLE="$table" MACHINE="$machine" awk -v s="$start" -v e="$end" '
  $0 == s { print; print ""; print "Measured " ENVIRON["MACHINE"] ":"; print ""; print ENVIRON["TABLE"]; print ""; skip = 1; next }
  $0 == e { skip = 0 }
  !skip { print }
' "$doc" >"$doc.tmp" && mv "$doc.tmp" "$doc"
echo "wrote the table into $doc"

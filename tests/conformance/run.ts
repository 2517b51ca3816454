// CLI: bun tests/conformance/run.ts [--failures] [--min=PERCENT] PATH… — runs sqllogictest
// files or folders through cave's SQL engine and prints passed / failed / skipped per file,
// then the totals and the failures grouped by cause (--failures lists each one). Exit status
// 1 when fewer than PERCENT of the records that ran passed (default 99, the project's bar).
import { causeLabel, collectFiles, type FileResult, runFile } from "./slt.ts";

const args = process.argv.slice(2);
const showFailures = args.includes("--failures");
const minArg = args.find((a) => a.startsWith("--min="));
const minPercent = minArg ? Number(minArg.slice(6)) : 99;
const paths = args.filter((a) => !a.startsWith("--"));
if (!paths.length) {
  process.stderr.write("usage: bun tests/conformance/run.ts [--failures] PATH…\n");
  process.exit(2);
}
const files = collectFiles(paths);
const results: FileResult[] = [];
const started = performance.now();
for (const f of files) {
  const r = await runFile(f);
  results.push(r);
  const total = r.passed + r.failed;
  const pct = total ? ((100 * r.passed) / total).toFixed(2) : "100.00";
  process.stdout.write(`${f}: ${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped (${pct}%)\n`);
}
const passed = results.reduce((n, r) => n + r.passed, 0);
const failed = results.reduce((n, r) => n + r.failed, 0);
const skipped = results.reduce((n, r) => n + r.skipped, 0);
const pct = passed + failed ? ((100 * passed) / (passed + failed)).toFixed(2) : "100.00";
process.stdout.write(
  `total: ${passed} passed, ${failed} failed, ${skipped} skipped (${pct}%) in ${((performance.now() - started) / 1000).toFixed(1)} s\n`,
);
const byCause = new Map<string, number>();
for (const r of results) for (const f of r.failures) byCause.set(causeLabel(f.cause), (byCause.get(causeLabel(f.cause)) ?? 0) + 1);
for (const [cause, n] of [...byCause].sort((a, b) => b[1] - a[1])) process.stdout.write(`  ${n}\t${cause}\n`);
if (showFailures)
  for (const r of results)
    for (const f of r.failures) process.stdout.write(`\n${f.file}:${f.line}: ${f.cause}\n${f.sql}\n`);
process.exit(passed + failed === 0 || (100 * passed) / (passed + failed) >= minPercent ? 0 : 1);

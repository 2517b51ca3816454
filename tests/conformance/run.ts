// CLI: bun tests/conformance/run.ts [--failures] PATH… — runs sqllogictest files or folders
// through cave's SQL engine and prints passed / failed / skipped per file, then the totals
// and the failures grouped by cause. Exit status 1 when any record failed.
import { causeLabel, collectFiles, type FileResult, runFile } from "./slt.ts";

const args = process.argv.slice(2);
const showFailures = args.includes("--failures");
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
process.exit(failed ? 1 : 0);

/**
 * `npm run bench`: runs the benchmark suites, prints their tables and target checks, and writes
 * JSON and Markdown to bench/results/. Flags: `npm run bench -- --help`.
 *
 * Suites run one after another on the same machine description and options: throughput
 * (issue #5) and the explanation cost (issue #6).
 */
import { parseOptions, USAGE } from "./options.ts";
import { describeMachine } from "./machine.ts";
import { sectionText, targetsSection, writeReport, BenchReport } from "./report.ts";
import { throughputSuite } from "./throughput.ts";
import { explainCostSuite } from "./explain-cost.ts";
import { MODEL_DEFAULTS } from "../../lib/config/model-settings.ts";
import type { BenchSuite } from "./suite.ts";

const SUITES: readonly BenchSuite[] = [throughputSuite, explainCostSuite];

async function main(argv: string[]): Promise<void> {
  if (argv.includes("--help")) return void process.stdout.write(USAGE + "\n");
  const options = parseOptions(argv, { intraOpThreads: MODEL_DEFAULTS.intra_op_threads, workers: MODEL_DEFAULTS.workers });
  const machine = describeMachine();
  const started = new Date();
  const log = (msg: string) => process.stderr.write(`[${((Date.now() - started.getTime()) / 1000).toFixed(0).padStart(4)} s] ${msg}\n`);
  const serverSettings = { ...MODEL_DEFAULTS, ...options.serverSettings };
  log(`commit ${machine.commit}${machine.uncommitted_files.length ? ` + uncommitted changes in ${machine.uncommitted_files.join(", ")}` : ""}; ${machine.cpus} × ${machine.cpu_model}; load average ${machine.loadavg_at_start.join(" ")}`);
  log(`server model settings: ${Object.entries(serverSettings).map(([k, v]) => `${k}=${v}`).join(" ")}`);
  const report: BenchReport = {
    started_at: started.toISOString(),
    finished_at: "",
    duration_s: 0,
    machine: { ...machine },
    options: { ...options, effective_server_settings: serverSettings },
    sections: [],
    targets: [],
    suites: {},
  };
  for (const suite of SUITES) {
    const result = await suite.run({ options, machine, log });
    report.sections.push(...result.sections.filter((s) => s.rows.length > 0));
    report.targets.push(...result.targets);
    report.suites[suite.name] = result.data;
  }
  report.finished_at = new Date().toISOString();
  report.duration_s = Math.round((Date.now() - started.getTime()) / 1000);
  report.machine.loadavg_at_end = (await import("node:os")).loadavg().map((x) => Math.round(x * 100) / 100);
  const path = await writeReport(report, options.out);
  process.stdout.write(`\n${[...report.sections, targetsSection(report.targets)].map(sectionText).join("\n\n")}\n\n`);
  process.stdout.write(`${report.duration_s} s; results: ${path} (and .md)\n`);
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`bench: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  },
);

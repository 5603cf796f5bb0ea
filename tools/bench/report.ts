/**
 * The benchmark's output: tables printed to the terminal, the same tables as Markdown (to paste
 * into docs/benchmarks.md), and everything as JSON under bench/results/.
 *
 * A suite contributes sections (tables) and targets; new suites (e.g. issue #6's explanation cost
 * relative to a forward pass) add their own without touching the others.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";

export interface Section {
  id: string;
  title: string;
  columns: string[];
  rows: (string | number)[][];
  notes?: string[];
}

export interface TargetCheck {
  name: string;
  value: number;
  /** Human-readable threshold, e.g. "≥ 0.85 × ceiling". */
  target: string;
  met: boolean;
}

export interface BenchReport {
  started_at: string;
  finished_at: string;
  duration_s: number;
  machine: Record<string, unknown>;
  options: Record<string, unknown>;
  sections: Section[];
  targets: TargetCheck[];
  /** Raw results per suite. */
  suites: Record<string, unknown>;
}

const cell = (v: string | number) => (typeof v === "number" ? (Number.isFinite(v) ? String(v) : "–") : v);

export function sectionText(s: Section): string {
  const table = [s.columns, ...s.rows.map((r) => r.map(cell))];
  const widths = s.columns.map((_, i) => Math.max(...table.map((r) => String(r[i] ?? "").length)));
  const line = (r: (string | number)[]) => r.map((c, i) => (typeof c === "number" || /^[\d.–-]+$/.test(String(c)) ? String(c).padStart(widths[i]) : String(c).padEnd(widths[i]))).join("  ");
  return [`== ${s.title}`, line(s.columns), ...table.slice(1).map(line), ...(s.notes ?? []).map((n) => `  ${n}`)].join("\n");
}

export function sectionMarkdown(s: Section): string {
  const row = (r: (string | number)[]) => `| ${r.map(cell).join(" | ")} |`;
  return [`### ${s.title}`, "", row(s.columns), row(s.columns.map(() => "---")), ...s.rows.map(row), ...(s.notes?.length ? ["", ...s.notes.map((n) => `- ${n}`)] : [])].join("\n");
}

export function targetsSection(targets: TargetCheck[]): Section {
  return { id: "targets", title: "Targets (issues #5 and #6)", columns: ["target", "measured", "threshold", "met"], rows: targets.map((t) => [t.name, t.value, t.target, t.met ? "yes" : "NO"]) };
}

/** Writes `<dir>/<timestamp>.json` and `.md`; returns the JSON path. */
export async function writeReport(report: BenchReport, dir = "bench/results"): Promise<string> {
  const out = resolve(dir);
  await mkdir(out, { recursive: true });
  const stamp = report.started_at.replace(/[:.]/g, "-");
  const path = join(out, `${stamp}.json`);
  await writeFile(path, JSON.stringify(report, null, 2) + "\n");
  const md = [...report.sections, targetsSection(report.targets)].map(sectionMarkdown).join("\n\n");
  await writeFile(join(out, `${stamp}.md`), md + "\n");
  return path;
}

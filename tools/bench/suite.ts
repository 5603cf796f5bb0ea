/** A benchmark suite: one family of measurements with its tables, targets and raw data. */
import type { BenchOptions } from "./options.ts";
import type { MachineInfo } from "./machine.ts";
import type { Section, TargetCheck } from "./report.ts";

export interface SuiteContext {
  options: BenchOptions;
  machine: MachineInfo;
  log(msg: string): void;
}

export interface SuiteResult {
  sections: Section[];
  targets: TargetCheck[];
  data: unknown;
}

export interface BenchSuite {
  name: string;
  run(ctx: SuiteContext): Promise<SuiteResult>;
}

/**
 * Settings of run-time model management (issue #15): the models root that deploy requests name
 * folders under, and what a model node advertises to placement. Flags, environment variables,
 * defaults and parsers, as security-settings.ts does for its own.
 */
import type { Option } from "./option.ts";
import { positiveInteger, positiveNumber } from "./option.ts";
import { parseByteSize } from "./limits.ts";

export interface ManagementSettings {
  /** Folder model folders are named relative to; on a models node it makes the node a managed one (an agent). */
  modelsRoot?: string;
  /** Model actors a managed node runs at once. */
  modelSlots: number;
  /** Bytes of model files a managed node may host; undefined = no limit. */
  memoryBudget?: number;
  /** A node not heard from for this long is dead to placement; also the placement leader's lease. */
  agentLeaseMs: number;
  /** Route prefix of SQuARE's model-manager routes. */
  modelsPrefix: string;
}

export const DEFAULT_MANAGEMENT: Readonly<ManagementSettings> = Object.freeze({ modelSlots: 8, agentLeaseMs: 5000, modelsPrefix: "/api/models" });

export const MANAGEMENT_OPTIONS: readonly Option<keyof ManagementSettings>[] = Object.freeze([
  { flag: "--models-root", env: "SQUARE_MODELS_ROOT", key: "modelsRoot", help: "folder that deploy requests name model folders under; on a models node: run models placed at run time (see README \"Scaling at run time\")", parse: (s: string) => nonEmpty(s, "--models-root") },
  { flag: "--model-slots", env: "SQUARE_MODEL_SLOTS", key: "modelSlots", help: "model actors a managed models node runs at once (default 8)", parse: (s: string) => positiveInteger(s, "--model-slots") },
  { flag: "--memory-budget", env: "SQUARE_MEMORY_BUDGET", key: "memoryBudget", help: "bytes of model files a managed models node may host, e.g. 4gb (default: no limit)", parse: parseBudget },
  { flag: "--agent-lease", env: "SQUARE_AGENT_LEASE", key: "agentLeaseMs", help: "seconds after which a silent models node is dead to placement and its models are placed elsewhere (default 5)", parse: parseLease },
  { flag: "--models-prefix", env: "SQUARE_MODELS_PREFIX", key: "modelsPrefix", help: "route prefix of the model-management routes (default /api/models)", parse: parsePrefix },
]);

function nonEmpty(text: string, flag: string): string {
  if (text.trim() === "") throw new Error(`${flag} needs a value`);
  return text;
}

function parseBudget(text: string): number {
  const n = parseByteSize(text);
  if (n === undefined || n <= 0) throw new Error(`--memory-budget must be a size like 4gb, 512mb or 1073741824, got "${text}"`);
  return n;
}

function parseLease(text: string): number {
  const s = positiveNumber(text, "--agent-lease");
  if (s < 0.5 || s > 600) throw new Error(`--agent-lease must be 0.5 to 600 seconds, got "${text}"`);
  return s * 1000;
}

function parsePrefix(text: string): string {
  if (!/^\/[A-Za-z0-9/_-]*[A-Za-z0-9_-]$/.test(text)) throw new Error(`--models-prefix must be a path like /api/models, got "${text}"`);
  return text;
}

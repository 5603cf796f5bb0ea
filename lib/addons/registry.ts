/**
 * The frozen registry of request add-ons, in the order their problems are reported and their
 * fields are filled: adapters (SPEC §9), explanations (SPEC §7), attacks (SPEC §8).
 */
import type { RequestAddOn } from "./types.ts";
import type { TaskRequest } from "../request/request.ts";
import type { TaskPipeline } from "../tasks/types.ts";
import type { ModelFacts } from "../inference/facts.ts";
import type { FieldProblem } from "../errors.ts";
import { explanations } from "./explanations.ts";
import { attacks } from "./attacks.ts";
import { adapters } from "./adapters.ts";

export const ADD_ONS: readonly RequestAddOn[] = Object.freeze([adapters, explanations, attacks]);

export const addOnNamed = (name: string): RequestAddOn | undefined => ADD_ONS.find((a) => a.name === name);

/** The add-ons a request asks for, with their parsed options. */
export interface WantedAddOn {
  addOn: RequestAddOn;
  options: unknown;
}

export function parseAddOns(request: TaskRequest, pipeline: TaskPipeline, model: ModelFacts): { wanted: WantedAddOn[]; problems: FieldProblem[] } {
  const wanted: WantedAddOn[] = [];
  const problems: FieldProblem[] = [];
  for (const addOn of ADD_ONS) {
    if (!addOn.wanted(request)) continue;
    const result = addOn.parse(request, pipeline, model);
    if (result.ok) wanted.push({ addOn, options: result.options });
    else problems.push(...result.problems);
  }
  return { wanted, problems };
}

/**
 * SPEC §9 adapters as a request add-on: `adapter_name` picks one of the model's adapters for the request, a
 * list with `model_kwargs.average_adapters: true` averages their weights (AdapterHub's linear average, equal
 * weights) and heads. Parsing refuses what cannot run (422s naming `adapter_name`); the choice itself rides on
 * the request's sequences (lib/inference/adapters.ts, set by the task pipeline) and the model feeds it per row,
 * so `run` has no fields to fill. Explanations and attacks
 * work with an adapter: the gradient graph is the adapter graph's, through the adapter's head (lib/model/runtime.ts).
 */
import type { RequestAddOn } from "./types.ts";
import { parsed } from "../tasks/types.ts";
import type { FieldProblem } from "../errors.ts";
import type { TaskRequest } from "../request/request.ts";
import type { TaskName } from "../request/task-names.ts";
import type { ModelFacts } from "../inference/facts.ts";
import { adapterChoiceOf, requestedAdapterNames, HEAD_OUTPUTS, HEAD_TASKS, type AdapterChoice, type AdapterHeadType } from "../inference/adapters.ts";

const FIELD = "adapter_name";

/** What a replica announces of its adapters (lib/model/adapters.ts AdapterInfo), read from metadata or the model's facts. */
interface AdapterFacts {
  adapters?: readonly string[];
  adapterInfo?: Readonly<Record<string, { head: AdapterHeadType | null; config: string; head_signature: string | null }>>;
}

const factsOf = (model: ModelFacts): AdapterFacts => model as ModelFacts & AdapterFacts;

/** Whether `task` reads a head output the base graph lacks (so the request must bring an adapter's head). */
export function needsAdapterHead(task: TaskName, model: ModelFacts): boolean {
  const outputs = HEAD_OUTPUTS[task];
  return outputs !== undefined && !outputs.every((o) => model.outputNames.includes(o));
}

/** Adapters of the model whose head serves `task`. */
const servingTask = (task: TaskName, facts: AdapterFacts) =>
  (facts.adapters ?? []).filter((name) => {
    const head = facts.adapterInfo?.[name]?.head;
    return head ? HEAD_TASKS[head] === task : false;
  });

/** Problems of a request that names no adapter: a task only adapters' heads serve needs one. */
export function missingAdapterProblems(task: TaskName, request: TaskRequest, model: ModelFacts): FieldProblem[] {
  const facts = factsOf(model);
  if (requestedAdapterNames(request).length || !(facts.adapters ?? []).length || !needsAdapterHead(task, model)) return [];
  const serving = servingTask(task, facts);
  return [{ field: FIELD, message: `the base model has no ${task} head; name an adapter whose head serves it (${serving.join(", ") || "none of this model's adapters"})` }];
}

/** Every reason `adapter_name` (with `model_kwargs.average_adapters`) cannot run on this model for this task. */
export function adapterProblems(task: TaskName, request: TaskRequest, model: ModelFacts): FieldProblem[] {
  const facts = factsOf(model);
  const served = facts.adapters ?? [];
  const given = request.adapter_name;
  const names = requestedAdapterNames(request);
  if (!served.length) return [{ field: FIELD, message: "this model has no adapters" }];
  if (Array.isArray(given) && names.length === 0) return [{ field: FIELD, message: "an empty list names no adapter; send one name, or several with model_kwargs.average_adapters: true" }];
  const problems: FieldProblem[] = [];
  if (names.some((n) => n.trim() === "")) problems.push({ field: FIELD, message: `an adapter name must not be empty; this model serves ${served.join(", ")}` });
  const unknown = names.filter((n) => n.trim() !== "" && !served.includes(n));
  if (unknown.length) problems.push({ field: FIELD, message: `unknown adapter${unknown.length > 1 ? "s" : ""} ${unknown.map((n) => JSON.stringify(n)).join(", ")}; this model serves ${served.join(", ")}` });
  if (new Set(names).size !== names.length) problems.push({ field: FIELD, message: "names an adapter more than once" });
  if (Array.isArray(given) && names.length > 1 && request.model_kwargs.average_adapters !== true) {
    problems.push({ field: FIELD, message: "a list of adapters is averaged only with model_kwargs.average_adapters: true" });
  }
  if (problems.length) return problems;
  const infos = names.map((n) => facts.adapterInfo?.[n]);
  if (names.length > 1 && infos.every((i) => i !== undefined)) {
    if (new Set(infos.map((i) => i!.config)).size > 1) problems.push({ field: FIELD, message: `adapters ${names.join(", ")} have different configurations and cannot be averaged` });
    if (HEAD_OUTPUTS[task] && new Set(infos.map((i) => i!.head_signature)).size > 1) problems.push({ field: FIELD, message: `the heads of ${names.join(", ")} differ (type, labels or layers) and cannot be averaged` });
  }
  if (HEAD_OUTPUTS[task]) {
    for (const [k, name] of names.entries()) {
      const head = infos[k]?.head ?? null;
      if (head === null || HEAD_TASKS[head] !== task) {
        problems.push({ field: FIELD, message: `adapter ${name} ${head ? `has a ${head} head, which serves ${HEAD_TASKS[head]}` : "has no prediction head"}, not ${task}; adapters for ${task}: ${servingTask(task, facts).join(", ") || "none"}` });
      }
    }
  }
  return problems;
}

export const adapters: RequestAddOn<AdapterChoice> = {
  name: "adapters",
  field: FIELD,

  /** The default `""` is the base model; anything else (a list, even empty) asks for adapters. */
  wanted: (request) => Array.isArray(request.adapter_name) || (request.adapter_name !== "" && request.adapter_name !== undefined),

  parse: (request, pipeline, model) => parsed(adapterProblems(pipeline.name, request, model), () => adapterChoiceOf(request)!),

  /** The adapters are loaded with the model (preloaded); nothing to build per request. */
  async prepare() {},

  /** The adapter acted in the forward pass (the choice rides on the sequences); no result fields of its own. */
  async run() {
    return { fields: {} };
  },
};
Object.freeze(adapters);

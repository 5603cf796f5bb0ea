/** Checks shared by several tasks' `check` step. */
import type { FieldProblem } from "../errors.ts";
import type { TaskRequest } from "../request/request.ts";
import type { ModelFacts } from "./types.ts";

/** Option → prefix of the graph outputs it asks for. Maps and own-key lookups only: a request key
 * named like an Object.prototype member (`constructor`, `__proto__`) is just an unknown option. */
const EXTRA_OUTPUTS: ReadonlyMap<string, string> = new Map([
  ["output_attentions", "attentions"],
  ["output_hidden_states", "hidden_states"],
]);
const MODEL_KWARGS = [...EXTRA_OUTPUTS.keys(), "average_adapters"];

/** `model_kwargs` the forward pass understands, and whether this export can provide them. */
export function checkModelKwargs(request: TaskRequest, model: ModelFacts): FieldProblem[] {
  const problems: FieldProblem[] = [];
  for (const [key, value] of Object.entries(request.model_kwargs)) {
    const field = `model_kwargs.${key}`;
    const prefix = EXTRA_OUTPUTS.get(key);
    if (!MODEL_KWARGS.includes(key)) problems.push({ field, message: `unknown option; known: ${MODEL_KWARGS.join(", ")}` });
    else if (typeof value !== "boolean") problems.push({ field, message: "must be a boolean" });
    else if (prefix && value && !model.outputNames.some((n) => n.startsWith(prefix))) {
      const reason = model.extraOutputsUnavailable ?? "its graph structure was not recognised";
      problems.push({ field, message: `this model's ONNX export has no ${prefix} outputs and none can be added: ${reason} (post-LayerNorm encoders with a Softmax per attention layer are supported)` });
    }
  }
  return problems;
}

/** Unknown keys and wrong types in `task_kwargs`, given the task's known options and their types. */
export function checkTaskKwargs(request: TaskRequest, known: Record<string, "boolean" | "string" | "integer" | "number">): FieldProblem[] {
  const problems: FieldProblem[] = [];
  for (const [key, value] of Object.entries(request.task_kwargs)) {
    const type = Object.hasOwn(known, key) ? known[key] : undefined;
    const field = `task_kwargs.${key}`;
    if (!type) problems.push({ field, message: `unknown option for this task; known: ${Object.keys(known).join(", ") || "none"}` });
    else if (type === "integer" ? !Number.isInteger(value) : typeof value !== type) problems.push({ field, message: `must be ${type === "integer" ? "an integer" : `a ${type}`}` });
  }
  return problems;
}

/** Extra outputs the forward pass must return for `model_kwargs`, each group in layer order. */
export function requestedExtraOutputs(request: TaskRequest, outputNames: readonly string[]): string[] {
  const layerOf = (name: string) => Number(/(\d+)$/.exec(name)?.[1] ?? 0);
  return [...EXTRA_OUTPUTS].flatMap(([key, prefix]) =>
    Object.hasOwn(request.model_kwargs, key) && request.model_kwargs[key] === true ? outputNames.filter((n) => n.startsWith(prefix)).sort((a, b) => layerOf(a) - layerOf(b)) : [],
  );
}

/** SPEC §7 explanations as a request add-on: `explain_kwargs` → `attributions`. */
import type { RequestAddOn } from "./types.ts";
import { parsed } from "../tasks/types.ts";
import type { FieldProblem } from "../errors.ts";
import { checkExplainKwargs, explainOptions, ExplainOptions, NOT_EXPLAINABLE } from "../explain/options.ts";
import { explainTargets } from "../explain/explain.ts";

export const explanations: RequestAddOn<ExplainOptions> = {
  name: "explanations",
  field: "explain_kwargs",

  wanted: (request) => Object.keys(request.explain_kwargs).length > 0,

  /** Only for tasks with explanation targets, only on text, with valid options. */
  parse(request, pipeline) {
    const problems: FieldProblem[] = !pipeline.explainTargets
      ? [{ field: "explain_kwargs", message: NOT_EXPLAINABLE }]
      : request.is_preprocessed
        ? [{ field: "explain_kwargs", message: "explanations score words of the text; send text, not is_preprocessed input" }]
        : checkExplainKwargs(request.explain_kwargs);
    return parsed(problems, () => explainOptions(request.explain_kwargs)!);
  },

  /** Builds (or reads from the disk cache) the model's gradient graph; a 422 naming the operator when it cannot. */
  async prepare(model) {
    await model.gradientBackend();
  },

  /** Every item against its own target. */
  async run(options, { pipeline, state, model }) {
    if (!pipeline.explainTargets) throw new Error(`${pipeline.name} has no explanation targets (parse refuses this)`);
    return { fields: { attributions: await explainTargets(pipeline.explainTargets(state), options, await model.gradientBackend()) } };
  },
};
Object.freeze(explanations);

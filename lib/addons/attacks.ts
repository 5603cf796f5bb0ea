/**
 * SPEC §8 attacks as a request add-on (docs/attacks.md): `attack_kwargs` → the task's output over
 * the item's variants, with `questions`, `contexts` and `adversarial`. Every prediction and
 * gradient pass of an attack is background work in the model's batcher.
 */
import type { RequestAddOn } from "./types.ts";
import { parsed } from "../tasks/types.ts";
import type { AttackSubject, TaskPipeline } from "../tasks/types.ts";
import type { FieldProblem } from "../errors.ts";
import { invalid } from "../errors.ts";
import { itemCount } from "../request/request.ts";
import { checkAttackKwargs, attackOptions, type AttackOptions } from "../attacks/options.ts";
import { runAttack } from "../attacks/run.ts";
import { itemOf, variantTexts } from "../attacks/words.ts";

const NOT_ATTACKABLE = "this task cannot be attacked; attacks exist for sequence-classification and question-answering";

export const attacks: RequestAddOn<AttackOptions> = {
  name: "attacks",
  field: "attack_kwargs",

  wanted: (request) => Object.keys(request.attack_kwargs).length > 0,

  parse(request, pipeline) {
    const problems: FieldProblem[] = !pipeline.attackSubjects
      ? [{ field: "attack_kwargs", message: NOT_ATTACKABLE }]
      : request.is_preprocessed
        ? [{ field: "attack_kwargs", message: "attacks edit the words of the text; send text, not is_preprocessed input" }]
        : [...requestProblems(request), ...checkAttackKwargs(request.attack_kwargs)];
    return parsed(problems, () => attackOptions(request.attack_kwargs));
  },

  /** Attacks rank words by saliency and HotFlip needs gradients: the model's gradient graph, as for explanations. */
  async prepare(model) {
    await model.gradientBackend();
  },

  async run(options, { pipeline, state, model, task }) {
    const subjects = subjectsOf(pipeline);
    const [original] = subjects(state);
    if (original.windows > 1) throw invalid(`attacks work on an item that fits one model window; this question and context need ${original.windows} windows`, "attack_kwargs");
    const { variants, adversarial } = await runAttack({
      original,
      options,
      backend: await model.gradientBackend(),
      tokenizerPath: model.folder.tokenizerPath,
      predict: async (items) => subjects((await task.predict(items.map(itemOf))).state),
      tokenize: (texts) => task.tokenize([itemOf(texts)]),
    });
    const { output } = await task.predict(variants.map(itemOf));
    return { fields: { ...variantTexts(original, variants), adversarial: { method: options.method, ...adversarial } }, output };
  },
};
Object.freeze(attacks);

/** One item (the result's items are its variants), and not with explain_kwargs (whose attributions would describe one item among many). */
function requestProblems(request: Parameters<RequestAddOn["wanted"]>[0]): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const items = itemCount(request);
  if (items !== 1) problems.push({ field: "input", message: `an attack takes exactly one item (the result's items are its variants); this request has ${items}` });
  if (Object.keys(request.explain_kwargs).length) problems.push({ field: "explain_kwargs", message: "cannot be combined with attack_kwargs; an attack ranks words by its own saliency_method" });
  return problems;
}

function subjectsOf(pipeline: TaskPipeline): (state: unknown) => AttackSubject[] {
  if (!pipeline.attackSubjects) throw new Error(`${pipeline.name} has no attack subjects (parse refuses this)`);
  return (state) => pipeline.attackSubjects!(state);
}

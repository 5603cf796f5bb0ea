/** The four SPEC §8 attacks by name (docs/attacks.md), and the one place that runs them. */
import type { AttackContext, AttackMethodRun, AttackResult } from "./context.ts";
import type { AttackMethod } from "./options.ts";
import { hotflip } from "./hotflip.ts";
import { inputReduction } from "./input-reduction.ts";
import { subSpan } from "./sub-span.ts";
import { topkTokens } from "./topk-tokens.ts";

const METHODS: Readonly<Record<AttackMethod, AttackMethodRun>> = Object.freeze({
  hotflip,
  input_reduction: inputReduction,
  sub_span: subSpan,
  topk_tokens: topkTokens,
});

export const runAttack = (context: AttackContext): Promise<AttackResult> => METHODS[context.options.method](context);

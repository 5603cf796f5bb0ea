/** What an attack method works with, and what it gives back (docs/attacks.md). */
import type { GradientBackend } from "../inference/gradients.ts";
import type { AttackSubject } from "../tasks/types.ts";
import type { Encoded } from "../tokenization/encoded.ts";
import type { AttackOptions } from "./options.ts";

export interface AttackContext {
  /** The request's item after its prediction. */
  original: AttackSubject;
  options: AttackOptions;
  backend: GradientBackend;
  /** The model's tokenizer.json (HotFlip's vocabulary). */
  tokenizerPath: string;
  /** The task on these items (texts per segment) with the request's options: one subject per item. */
  predict(items: readonly (readonly string[])[]): Promise<AttackSubject[]>;
  /** The sequences the task cuts an item into, without running the model. */
  tokenize(texts: readonly string[]): Promise<Encoded[]>;
}

export interface AttackResult {
  /** Each variant's texts per segment; the first is the original. */
  variants: string[][];
  /** `adversarial` besides `method`: `indices` and what the method adds. */
  adversarial: { indices: number[] } & Record<string, unknown>;
}

export type AttackMethodRun = (context: AttackContext) => Promise<AttackResult>;

/** Labels compare as numbers, QA spans as character ranges. */
export const samePrediction = (a: AttackSubject["prediction"], b: AttackSubject["prediction"]): boolean => JSON.stringify(a) === JSON.stringify(b);

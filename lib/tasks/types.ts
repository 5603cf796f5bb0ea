/**
 * One file per task; each is a pipeline: parse (typed options, once) → start (tokenize) → one or
 * more forward steps → finish. The orchestration (lib/orchestration/execute.ts) runs the loop:
 * while `next` names a forward pass it runs it through the model's batcher and hands the outputs
 * to `absorb`. An encoder task has one step (encoder-pipeline.ts); generation has a prefill step
 * and then one decode step per token, each step forwarding only the rows still running (rows of
 * other requests join the same batches in the batcher); an attack predicts, perturbs and
 * predicts again. test/unit/looping-pipeline.test.ts shows a pipeline of several steps.
 */
import type { LoadedModel } from "../inference/model.ts";
import type { Encoded } from "../tokenization/encoded.ts";
import type { NdArray } from "../tensor.ts";
import type { TaskRequest } from "../request/request.ts";
import type { FieldProblem } from "../errors.ts";
import type { TaskName } from "../request/task-names.ts";
import type { ExplainTarget } from "../explain/explain.ts";
import type { OutputValue } from "../encoding/arrays.ts";
import type { ItemKind } from "./input-kinds.ts";
import type { EncoderState, GenerationRow, GenerationRowResult } from "../inference/generation.ts";

export type { ModelFacts } from "../inference/facts.ts";
import type { ModelFacts } from "../inference/facts.ts";

export interface OutputOptions {
  /** Plain nested lists instead of base64 `.npy` (SPEC §5). */
  plaintext: boolean;
}

export interface Prepared {
  sequences: Encoded[];
}

/** Options parsed from a request: typed and defaulted, or the problems that make it a 422. */
export type Parsed<O> = { ok: true; options: O } | { ok: false; problems: FieldProblem[] };

export const parsed = <O>(problems: FieldProblem[], options: () => O): Parsed<O> => (problems.length ? { ok: false, problems } : { ok: true, options: options() });

/** One forward pass a pipeline asks for: these sequences, for these graph outputs. */
export interface ForwardStep {
  kind?: "forward";
  sequences: readonly Encoded[];
  outputs: string[];
}

/** Generation on an encoder-decoder model: the encoder over the prompts (one EncoderState each). */
export interface EncodePromptsStep {
  kind: "encode-prompts";
  prompts: readonly Encoded[];
}

/** Generation: one decoding step for these rows (one GenerationRowResult each). */
export interface GenerateStep {
  kind: "generate";
  rows: readonly GenerationRow[];
}

export type PipelineStep = ForwardStep | EncodePromptsStep | GenerateStep;

/** What a step gives back per sequence, prompt or row, in order. */
export type StepItem = Record<string, NdArray> | EncoderState | GenerationRowResult;

/** The sequences of a plain forward step (what a task would run for its items), none for other steps. */
export const forwardSequences = (step: PipelineStep | undefined): readonly Encoded[] => (step && (step.kind ?? "forward") === "forward" ? (step as ForwardStep).sequences : []);

/** Something a running task reports before it finishes (generation: new text per sequence), for streaming. */
export interface ProgressEvent {
  prompt: number;
  sequence: number;
  /** Token ids chosen in this step. */
  tokens: number[];
  /** The text those tokens add to the sequence's text. */
  text: string;
}

/**
 * The result fields request add-ons fill (SPEC §6-§8). A task that carries them declares their
 * values when no add-on filled them; the orchestration sets them, for every task, in one place.
 */
export interface AddOnFields {
  attributions: unknown[];
  questions: unknown[];
  contexts: unknown[];
  adversarial: Record<string, unknown>;
}

/** What a task computes: its own result fields and the arrays of `model_outputs` (rendered by the orchestration). */
export interface TaskOutput {
  fields: Record<string, unknown>;
  arrays: Record<string, OutputValue>;
}

export interface TaskPipeline<O = unknown, S = unknown> {
  readonly name: TaskName;
  /** Text items the task takes (SPEC §3); `is_preprocessed` input is checked by its own rules. */
  readonly accepts: readonly ItemKind[];
  /**
   * Long text inputs are cut into overlapping windows by the task (question answering) instead of
   * truncated to one row per item; preprocessing_kwargs are checked by that rule (lib/validation).
   */
  readonly windowsLongInputs?: boolean;
  /** Task options that need text, refused for `is_preprocessed` input (the field and why). */
  preprocessedProblems?(request: TaskRequest): FieldProblem[];
  /** SPEC values of the add-on fields in this task's results; absent when its results have none (embedding). */
  readonly addOnFields?: Readonly<AddOnFields>;
  /** `task_kwargs`, `model_kwargs` and task-specific `preprocessing_kwargs` into typed options, against what the model offers. */
  parse(request: TaskRequest, model: ModelFacts): Parsed<O>;
  /** Tokenizes and sets up the state the steps work on. */
  start(request: TaskRequest, options: O, model: LoadedModel): Promise<S>;
  /** The next forward pass, or undefined when the task has what it needs. */
  next(state: S): PipelineStep | undefined;
  /** The outputs of the step `next` asked for: one item per sequence (prompt, row), in order. */
  absorb(state: S, items: readonly StepItem[]): void | Promise<void>;
  /** Tasks that report progress before finishing (generation): `listener` gets each event as it happens. */
  observe?(state: S, listener: (event: ProgressEvent) => void): void;
  /** May be async: post-processing of large results yields the event loop between pieces. */
  finish(state: S, model: LoadedModel): TaskOutput | Promise<TaskOutput>;
  /** Tasks that can be explained (SPEC §7): each item's tokens and its own target, from the finished state. */
  explainTargets?(state: S): ExplainTarget[];
  /** Tasks that can be attacked (SPEC §8): what an attack needs to know of each item's prediction, from the finished state. */
  attackSubjects?(state: S): AttackSubject[];
}

/**
 * An item as an attack sees it after a prediction (docs/attacks.md): its texts, which segment is
 * the question, the window it was predicted on, its prediction and the logits behind it.
 */
export interface AttackSubject {
  /** The item's texts as sent: one text, or a pair in the task's order. */
  texts: readonly string[];
  /** The segment holding the question; absent for a single text (all context). */
  questionSegment?: 0 | 1;
  /** The segment holding the context. */
  contextSegment: 0 | 1;
  /** How many model windows the item needed (attacks work on one). */
  windows: number;
  /** The window holding the prediction, with its explanation target (saliency). */
  explain: ExplainTarget;
  /** What "the prediction changed" compares: the label, or the best span's character range in the context. */
  prediction: number | [number, number];
  /** The task's logits of that window, per output (`logits`, or `start_logits` and `end_logits`). */
  logits: Record<string, Float32Array>;
  /** The predicted index in each of those outputs (the label, or the span's first and last token). */
  predicted: Record<string, number>;
}

/**
 * SPEC §6.5 text generation as a looping pipeline (lib/tasks/types.ts): tokenize the prompts,
 * run the encoder once (encoder-decoder models), then one decoding step after another, each for
 * the rows lib/generation's step machine asks for (greedy, sampling, beam search). A row
 * continuing a sequence takes the cache of the row it continues from the previous step, so beam
 * search reorders caches by choosing them. Every step goes through the model's batcher, where
 * rows of other requests (and their prefills) join the same batches: continuous batching.
 * Finished sequences leave the rows, so they stop costing compute.
 */
import { parsed, type ModelFacts, type ProgressEvent, type StepItem, type TaskPipeline } from "./types.ts";
import { tokenizeOptions } from "./tokenize-input.ts";
import { parseGenerationOptions, lengthProblems, maxNewTokensFor, type GenerationOptions } from "../generation/options.ts";
import { createDecoding } from "../generation/decoding.ts";
import type { Decoding, StepRow } from "../generation/types.ts";
import type { EncoderState, GenerationModel, GenerationRow, GenerationRowResult } from "../inference/generation.ts";
import type { LoadedModel } from "../inference/model.ts";
import type { Encoded, TokenizeOptions } from "../tokenization/encoded.ts";
import type { TaskRequest } from "../request/request.ts";
import { invalid, invalidFields } from "../errors.ts";
import { generationOutput } from "./generation-output.ts";
import { SequenceStreams } from "./generation-stream.ts";

export interface GenerationTaskOptions {
  generation: GenerationOptions;
  tokenize: TokenizeOptions;
}

interface GenerationState {
  texts: string[];
  options: GenerationOptions;
  model: GenerationModel;
  tokenizerModel: LoadedModel;
  /** Per prompt: the ids the decoder starts from (prompt, or the decoder start token). */
  starts: number[][];
  prompts: Encoded[];
  encoders?: EncoderState[];
  decoding: Decoding;
  seed?: number;
  /** The previous step's results (a row names its parent by index into them). */
  previous: readonly GenerationRowResult[];
  streams?: SequenceStreams;
}

const NOT_GENERATIVE = "this model does not generate text";

export const generation: TaskPipeline<GenerationTaskOptions, GenerationState> = {
  name: "generation",
  accepts: ["single"],

  /** Prompts are texts: the decoded output starts from them (pre-tokenized prompts are a possible later addition). */
  preprocessedProblems: () => [{ field: "is_preprocessed", message: "generation takes text prompts, not token arrays" }],

  parse(request, model: ModelFacts) {
    if (!model.generation) return { ok: false, problems: [{ field: "task", message: NOT_GENERATIVE }] };
    const { options, problems } = parseGenerationOptions(request, { modelDefaults: { ...model.generation.config }, vocabSize: model.generation.vocabSize });
    // Prompts are not truncated unless the client asks; one too long for the model is refused by name at start.
    return parsed(problems, () => ({ generation: options!, tokenize: tokenizeOptions(request.preprocessing_kwargs, model.maxLength, "do_not_truncate") }));
  },

  async start(request: TaskRequest, options: GenerationTaskOptions, model: LoadedModel): Promise<GenerationState> {
    const gen = model.generation;
    if (!gen) throw invalid(NOT_GENERATIVE, "task");
    const texts = request.input as string[];
    const prompts = await model.tokenizer.encode(texts, options.tokenize);
    const o = options.generation;
    const decoderOnly = gen.architecture === "decoder-only";
    const starts = prompts.map((p, i) => (decoderOnly ? promptIds(p, o, i) : [decoderStart(o)]));
    checkLengths(starts, prompts, o, gen, model.folder.maxLength);
    const { decoding, seed } = createDecoding(o, starts.map((tokens) => ({ tokens })));
    return { texts, options: o, model: gen, tokenizerModel: model, starts, prompts, decoding, seed, previous: [] };
  },

  next(state) {
    if (state.model.architecture === "encoder-decoder" && !state.encoders) return { kind: "encode-prompts", prompts: state.prompts };
    if (state.decoding.done) return undefined;
    return { kind: "generate", rows: state.decoding.rows().map((row) => generationRow(state, row)) };
  },

  async absorb(state, items: readonly StepItem[]) {
    // The first step of an encoder-decoder model is the encoder (next() asked for it).
    if (state.model.architecture === "encoder-decoder" && !state.encoders) return void (state.encoders = items as EncoderState[]);
    const results = items as GenerationRowResult[];
    const outcome = state.decoding.absorb(results.map((r) => r.logits));
    state.previous = results;
    if (state.streams) await state.streams.absorb(state.decoding, outcome);
  },

  observe(state, listener: (event: ProgressEvent) => void) {
    state.streams = new SequenceStreams(state.tokenizerModel.tokenizer, listener, state.options.numBeams > 1);
  },

  finish(state) {
    const prompts = state.starts.map((start, i) => ({ start, result: state.decoding.result(i) }));
    return generationOutput(prompts, state.texts, state.options, state.model.architecture, state.tokenizerModel.tokenizer, state.seed);
  },
};
Object.freeze(generation);

/** The model-side row for a decoding row: a prefill feeds its whole start, a continuation its last token with its parent's cache. */
function generationRow(state: GenerationState, row: StepRow): GenerationRow {
  const encoder = state.encoders?.[row.prompt];
  if (row.parent === null) return { tokens: row.tokens, ...(encoder ? { encoder } : {}) };
  const parent = state.previous[row.parent];
  if (!parent) throw new Error(`generation row continues row ${row.parent}, which the previous step did not have`);
  return { tokens: [row.tokens[row.tokens.length - 1]], cache: parent.cache, ...(encoder ? { encoder } : {}) };
}

/** A decoder-only prompt's ids; an empty prompt starts from the bos token, as Hugging Face does. */
function promptIds(prompt: Encoded, options: GenerationOptions, index: number): number[] {
  if (prompt.ids.length > 0) return prompt.ids;
  if (options.bosTokenId !== undefined) return [options.bosTokenId];
  throw invalid(`input[${index}] has no tokens and the model has no bos_token_id to start from`, `input.${index}`);
}

function decoderStart(options: GenerationOptions): number {
  const start = options.decoderStartTokenId ?? options.bosTokenId ?? options.padTokenId;
  if (start === undefined) throw invalid("the model's config names no decoder_start_token_id (nor bos or pad token) to start decoding from", "task");
  return start;
}

/** `max_length` must leave room for a new token, and no sequence may outgrow the model's positions. */
function checkLengths(starts: readonly number[][], prompts: readonly Encoded[], options: GenerationOptions, model: GenerationModel, encoderLength: number): void {
  const problems = lengthProblems(options, starts.map((s) => s.length));
  starts.forEach((start, i) => {
    const total = start.length + maxNewTokensFor(options, start.length);
    if (total > model.maxPositions) {
      problems.push({ field: `input.${i}`, message: `prompt ${i} has ${start.length} tokens; with ${maxNewTokensFor(options, start.length)} new tokens its sequence would hold ${total}, more than the model's ${model.maxPositions} positions` });
    }
    if (model.architecture === "encoder-decoder" && prompts[i].ids.length === 0) problems.push({ field: `input.${i}`, message: "is empty: the encoder needs at least one token" });
    if (model.architecture === "encoder-decoder" && prompts[i].ids.length > encoderLength) {
      problems.push({ field: `input.${i}`, message: `has ${prompts[i].ids.length} tokens; the model's encoder takes at most ${encoderLength} (set preprocessing_kwargs.truncation to true to cut it)` });
    }
  });
  if (problems.length) throw invalidFields(problems);
}

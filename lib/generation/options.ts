/**
 * Generation options (SPEC §6.5), parsed from a request's `task_kwargs` and `model_kwargs` (SQuARE
 * merges them, `task_kwargs` winning) over the model's `generation_config.json` values, over
 * Hugging Face's defaults. The result is either the resolved options or a list of problems (a 422),
 * one per broken rule, each naming the field it came from.
 *
 * Bounds keep every request's work finite: `max_new_tokens` ≤ `limits.maxNewTokens`, `max_length` ≤
 * `limits.maxTotalLength`, `num_beams` ≤ `limits.maxBeams` (16), `num_return_sequences` ≤
 * `num_beams` when beam searching and ≤ `limits.maxReturnSequences` when sampling, at most
 * `limits.maxEosTokens` eos ids. A prompt-dependent bound (`max_length` against each prompt's
 * length) is checked by `lengthProblems` once the prompts are tokenized.
 *
 * As in Hugging Face `generate`: `max_new_tokens` takes precedence over `max_length`; temperature,
 * top_k and top_p are accepted but have no effect unless `do_sample`; greedy decoding refuses
 * `num_return_sequences` > 1; temperature must be > 0 when sampling (no silent switch to greedy);
 * `top_k` 0 and `top_p` 1 switch those warpers off; `no_repeat_ngram_size` 0 switches the ban off.
 */
import type { FieldProblem } from "../errors.ts";
import { readModelDefaults, type ModelGenerationDefaults } from "./model-defaults.ts";

export type EarlyStopping = boolean | "never";

/** Resolved options. Exactly one of `maxNewTokens` / `maxLength` is set (see `maxNewTokensFor`). */
export interface GenerationOptions {
  maxNewTokens?: number;
  maxLength?: number;
  /** Where `maxLength` came from (`task_kwargs.max_length`, …), for `lengthProblems`. */
  maxLengthField?: string;
  minNewTokens: number;
  minLength: number;
  doSample: boolean;
  temperature: number;
  topK: number;
  topP: number;
  numBeams: number;
  lengthPenalty: number;
  earlyStopping: EarlyStopping;
  numReturnSequences: number;
  repetitionPenalty: number;
  noRepeatNgramSize: number;
  /** Empty: no eos, sequences end at the length limit only. */
  eosTokenIds: number[];
  padTokenId?: number;
  bosTokenId?: number;
  /** From the model's generation_config.json only (BART-style models): HF's ForcedBOS / ForcedEOS processors. */
  forcedBosTokenId?: number;
  forcedEosTokenIds?: number[];
  decoderStartTokenId?: number;
  outputScores: boolean;
  /** Absent: the decoder draws a fresh one (random.ts `resolveSeed`). */
  seed?: number;
  returnFullText: boolean;
  cleanUpTokenizationSpaces: boolean;
}

export interface GenerationLimits {
  maxNewTokens: number;
  maxTotalLength: number;
  maxBeams: number;
  maxReturnSequences: number;
  maxEosTokens: number;
}

export const DEFAULT_LIMITS: GenerationLimits = Object.freeze({
  maxNewTokens: 1024,
  maxTotalLength: 8192,
  maxBeams: 16,
  maxReturnSequences: 16,
  maxEosTokens: 16,
});

/** |length_penalty| above this makes new_tokens^length_penalty overflow or underflow (scores become ±Infinity or NaN). */
export const LENGTH_PENALTY_BOUND = 10;

/** SPEC §6.5 default when neither the request nor the model sets a length. */
export const DEFAULT_MAX_NEW_TOKENS = 20;

export interface GenerationContext {
  /** The model's generation_config.json as parsed JSON (unknown and malformed keys are ignored here; see `modelDefaultsProblems`). */
  modelDefaults?: Record<string, unknown>;
  limits?: Partial<GenerationLimits>;
  /** Token ids must be below this when known. */
  vocabSize?: number;
  /** Keys another checker owns (e.g. `output_attentions` in model_kwargs): not flagged as unknown, not read. */
  otherKeys?: { task_kwargs?: readonly string[]; model_kwargs?: readonly string[] };
}

export interface RequestKwargs {
  task_kwargs: Record<string, unknown>;
  model_kwargs: Record<string, unknown>;
}

type Kind = "count" | "boolean" | "number" | "token" | "tokens" | "early_stopping" | "seed";
const OPTION_KINDS: ReadonlyMap<string, Kind> = new Map<string, Kind>([
  ["max_new_tokens", "count"],
  ["max_length", "count"],
  ["min_new_tokens", "count"],
  ["min_length", "count"],
  ["do_sample", "boolean"],
  ["temperature", "number"],
  ["top_k", "count"],
  ["top_p", "number"],
  ["num_beams", "count"],
  ["length_penalty", "number"],
  ["early_stopping", "early_stopping"],
  ["num_return_sequences", "count"],
  ["repetition_penalty", "number"],
  ["no_repeat_ngram_size", "count"],
  ["eos_token_id", "tokens"],
  ["pad_token_id", "token"],
  ["bos_token_id", "token"],
  ["output_scores", "boolean"],
  ["seed", "seed"],
  ["return_full_text", "boolean"],
  ["clean_up_tokenization_spaces", "boolean"],
]);

/** The option names a generation request accepts. */
export const GENERATION_OPTION_NAMES: readonly string[] = [...OPTION_KINDS.keys()];

/** A value with the field it came from (`task_kwargs.x`, `model_kwargs.x`, or `generation_config.x` for model defaults). */
interface Given {
  value: unknown;
  field: string;
  fromRequest: boolean;
}

const typeMessage: Record<Kind, string> = {
  count: "must be an integer",
  boolean: "must be a boolean",
  number: "must be a finite number",
  token: "must be a token id (an integer)",
  tokens: "must be a token id or a list of token ids",
  early_stopping: 'must be true, false or "never"',
  seed: "must be an integer (a safe integer, |seed| < 2^53)",
};

function hasType(kind: Kind, v: unknown): boolean {
  switch (kind) {
    case "count":
    case "token":
      return Number.isSafeInteger(v);
    case "seed":
      return Number.isSafeInteger(v);
    case "boolean":
      return typeof v === "boolean";
    case "number":
      return typeof v === "number" && Number.isFinite(v);
    case "tokens":
      return Number.isSafeInteger(v) || (Array.isArray(v) && v.every((x) => Number.isSafeInteger(x)));
    case "early_stopping":
      return typeof v === "boolean" || v === "never";
  }
}

/** Request values by option name (task_kwargs over model_kwargs), plus unknown-key and type problems. */
function collect(kwargs: RequestKwargs, ctx: GenerationContext): { given: Map<string, Given>; problems: FieldProblem[] } {
  const given = new Map<string, Given>();
  const problems: FieldProblem[] = [];
  for (const section of ["model_kwargs", "task_kwargs"] as const) {
    const other = new Set(ctx.otherKeys?.[section] ?? []);
    for (const [key, value] of Object.entries(kwargs[section] ?? {})) {
      if (other.has(key)) continue;
      const field = `${section}.${key}`;
      const kind = OPTION_KINDS.get(key);
      if (!kind) {
        problems.push({ field, message: `unknown generation option; known: ${GENERATION_OPTION_NAMES.join(", ")}` });
        continue;
      }
      if (!hasType(kind, value)) {
        problems.push({ field, message: typeMessage[kind] });
        given.delete(key); // a broken value never stands in for a default
        continue;
      }
      given.set(key, { value, field, fromRequest: true });
    }
  }
  return { given, problems };
}

/**
 * Parses and range-checks the options. `problems` is empty exactly when `options` is set.
 */
export function parseGenerationOptions(kwargs: RequestKwargs, ctx: GenerationContext = {}): { options?: GenerationOptions; problems: FieldProblem[] } {
  const limits = { ...DEFAULT_LIMITS, ...ctx.limits };
  const { given, problems } = collect(kwargs, ctx);
  const defaults: ModelGenerationDefaults = readModelDefaults(ctx.modelDefaults ?? {}, ctx.vocabSize);
  const failed = new Set(problems.map((p) => p.field.split(".").slice(1).join(".")));

  /** Request value, else model default, else the built-in default; with the field to blame. */
  const pick = <T>(key: string, fallback: T): { value: T; field: string; fromRequest: boolean } => {
    const g = given.get(key);
    if (g) return g as { value: T; field: string; fromRequest: boolean };
    const d = (defaults as Record<string, unknown>)[key];
    if (d !== undefined) return { value: d as T, field: `generation_config.${key}`, fromRequest: false };
    return { value: fallback, field: `task_kwargs.${key}`, fromRequest: false };
  };
  const bad = (field: string, message: string) => problems.push({ field, message });
  /** Range rule on a request value (model defaults were checked by readModelDefaults). */
  const range = (key: string, ok: (v: number) => boolean, message: string) => {
    const g = given.get(key);
    if (g && !ok(g.value as number)) bad(g.field, `is ${JSON.stringify(g.value)}; ${message}`);
  };
  const tokenRange = ctx.vocabSize !== undefined ? `between 0 and ${ctx.vocabSize - 1} (this model's vocabulary has ${ctx.vocabSize} tokens)` : "at least 0";
  const isToken = (v: number) => v >= 0 && (ctx.vocabSize === undefined || v < ctx.vocabSize);

  range("max_new_tokens", (v) => v >= 1 && v <= limits.maxNewTokens, `must be between 1 and ${limits.maxNewTokens}`);
  range("max_length", (v) => v >= 1 && v <= limits.maxTotalLength, `must be between 1 and ${limits.maxTotalLength} (prompt plus new tokens)`);
  range("min_new_tokens", (v) => v >= 0 && v <= limits.maxNewTokens, `must be between 0 and ${limits.maxNewTokens}`);
  range("min_length", (v) => v >= 0 && v <= limits.maxTotalLength, `must be between 0 and ${limits.maxTotalLength}`);
  range("temperature", (v) => v >= 0, "must be at least 0 (and greater than 0 when sampling)");
  range("top_k", (v) => v >= 0, "must be at least 0 (0 keeps every token)");
  range("top_p", (v) => v >= 0 && v <= 1, "must be between 0 and 1 (1 keeps every token)");
  range("num_beams", (v) => v >= 1 && v <= limits.maxBeams, `must be between 1 and ${limits.maxBeams}`);
  // length^length_penalty must stay a finite, non-zero float64 for every length up to the limit (1024^±10 does).
  range("length_penalty", (v) => v >= -LENGTH_PENALTY_BOUND && v <= LENGTH_PENALTY_BOUND, `must be between -${LENGTH_PENALTY_BOUND} and ${LENGTH_PENALTY_BOUND}`);
  range("num_return_sequences", (v) => v >= 1 && v <= limits.maxReturnSequences, `must be between 1 and ${limits.maxReturnSequences}`);
  range("repetition_penalty", (v) => v > 0, "must be greater than 0 (1 means no penalty)");
  range("no_repeat_ngram_size", (v) => v >= 0 && v <= limits.maxTotalLength, `must be between 0 (off) and ${limits.maxTotalLength}`);
  range("pad_token_id", isToken, `must be ${tokenRange}`);
  range("bos_token_id", isToken, `must be ${tokenRange}`);
  const eosGiven = given.get("eos_token_id");
  if (eosGiven) {
    const ids = ([] as number[]).concat(eosGiven.value as number | number[]);
    if (ids.length > limits.maxEosTokens) bad(eosGiven.field, `has ${ids.length} ids; at most ${limits.maxEosTokens}`);
    else if (!ids.every(isToken)) bad(eosGiven.field, `is ${JSON.stringify(eosGiven.value)}; every id must be ${tokenRange}`);
  }
  for (const p of problems) failed.add(p.field.split(".").slice(1).join("."));

  const doSample = pick("do_sample", false);
  const numBeams = pick("num_beams", 1);
  const numReturn = pick("num_return_sequences", 1);
  const temperature = pick("temperature", 1);
  const beamSearch = numBeams.value > 1;
  // Cross-field rules, one problem each, only between values that passed their own checks.
  const usable = (...keys: string[]) => keys.every((k) => !failed.has(k));
  if (usable("num_beams", "num_return_sequences", "do_sample")) {
    const blame = numReturn.fromRequest || !(numBeams.fromRequest || doSample.fromRequest) ? numReturn.field : numBeams.fromRequest ? numBeams.field : doSample.field;
    if (!beamSearch && !doSample.value && numReturn.value > 1) {
      bad(blame, `num_return_sequences is ${numReturn.value}, but greedy decoding (num_beams 1, do_sample false) returns one sequence per prompt; set do_sample true or num_beams ≥ ${numReturn.value}`);
    } else if (beamSearch && numReturn.value > numBeams.value) {
      bad(blame, `num_return_sequences is ${numReturn.value}, more than num_beams ${numBeams.value}: beam search returns at most num_beams sequences per prompt`);
    }
  }
  if (usable("do_sample", "temperature") && doSample.value && !(temperature.value > 0)) {
    const blame = temperature.fromRequest || !doSample.fromRequest ? temperature.field : doSample.field;
    bad(blame, `temperature is ${temperature.value}; sampling needs a temperature greater than 0 (for greedy decoding set do_sample false)`);
  }
  if (problems.length > 0) return { problems };

  const eos = pick<number | number[]>("eos_token_id", []);
  const newTokens = given.get("max_new_tokens");
  const total = given.get("max_length");
  // Request lengths win over model lengths; within one source max_new_tokens wins (HF precedence).
  let maxNewTokens: number | undefined;
  let maxLength: number | undefined;
  let maxLengthField: string | undefined;
  if (newTokens) maxNewTokens = newTokens.value as number;
  else if (total) [maxLength, maxLengthField] = [total.value as number, total.field];
  else if (defaults.max_new_tokens !== undefined) maxNewTokens = defaults.max_new_tokens;
  else if (defaults.max_length !== undefined) [maxLength, maxLengthField] = [defaults.max_length, "generation_config.max_length"];
  else maxNewTokens = DEFAULT_MAX_NEW_TOKENS;

  const seed = given.get("seed");
  const options: GenerationOptions = {
    maxNewTokens,
    maxLength,
    maxLengthField,
    minNewTokens: pick("min_new_tokens", 0).value,
    minLength: pick("min_length", 0).value,
    doSample: doSample.value,
    temperature: temperature.value,
    topK: pick("top_k", 50).value,
    topP: pick("top_p", 1).value,
    numBeams: numBeams.value,
    lengthPenalty: pick("length_penalty", 1).value,
    earlyStopping: pick<EarlyStopping>("early_stopping", false).value,
    numReturnSequences: numReturn.value,
    repetitionPenalty: pick("repetition_penalty", 1).value,
    noRepeatNgramSize: pick("no_repeat_ngram_size", 0).value,
    eosTokenIds: [...new Set(([] as number[]).concat(eos.value))],
    padTokenId: pick<number | undefined>("pad_token_id", undefined).value,
    bosTokenId: pick<number | undefined>("bos_token_id", undefined).value,
    forcedBosTokenId: defaults.forced_bos_token_id,
    forcedEosTokenIds: defaults.forced_eos_token_id,
    decoderStartTokenId: defaults.decoder_start_token_id,
    outputScores: pick("output_scores", false).value,
    seed: seed ? (seed.value as number) : undefined,
    returnFullText: pick("return_full_text", true).value,
    cleanUpTokenizationSpaces: pick("clean_up_tokenization_spaces", false).value,
  };
  return { options, problems: [] };
}

/**
 * New tokens allowed for one prompt. `promptLength` is what `max_length` counts besides the new
 * tokens: the prompt's own token count for decoder-only models (unpadded, so batch composition
 * never changes a result), 1 (the decoder start token) for encoder-decoder models. May be < 1 when
 * `max_length` leaves no room; `lengthProblems` reports that.
 */
export function maxNewTokensFor(options: Pick<GenerationOptions, "maxNewTokens" | "maxLength">, promptLength: number): number {
  return options.maxNewTokens ?? (options.maxLength as number) - promptLength;
}

/** Per-prompt length problems: `max_length` must leave room for one new token and stay within `limits.maxNewTokens` new tokens. */
export function lengthProblems(
  options: Pick<GenerationOptions, "maxNewTokens" | "maxLength" | "maxLengthField">,
  promptLengths: readonly number[],
  limits: Partial<GenerationLimits> = {},
): FieldProblem[] {
  if (options.maxNewTokens !== undefined) return [];
  const lengthField = options.maxLengthField ?? "task_kwargs.max_length";
  const cap = limits.maxNewTokens ?? DEFAULT_LIMITS.maxNewTokens;
  const problems: FieldProblem[] = [];
  promptLengths.forEach((len, i) => {
    const room = maxNewTokensFor(options, len);
    if (room < 1) problems.push({ field: lengthField, message: `is ${options.maxLength}, but prompt ${i} already has ${len} tokens; max_length counts the prompt, so it must be at least ${len + 1} (or use max_new_tokens)` });
    else if (room > cap) problems.push({ field: lengthField, message: `is ${options.maxLength}, which leaves ${room} new tokens for prompt ${i}; at most ${cap} new tokens are generated per sequence` });
  });
  return problems;
}

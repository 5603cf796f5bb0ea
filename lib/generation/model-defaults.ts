/**
 * The generation defaults a model folder brings in `generation_config.json` (Hugging Face writes
 * only the values that differ from its global defaults). `readModelDefaults` keeps the keys it
 * knows with valid values; `modelDefaultsProblems` lists the rest of what is wrong, for the model
 * loader to report at load time (a request cannot fix a model's file, so it never gets a 422 for
 * it). Keys that are not generation options (`transformers_version`, `_from_model_config`, …) are
 * ignored.
 */
import type { FieldProblem } from "../errors.ts";

export interface ModelGenerationDefaults {
  max_new_tokens?: number;
  max_length?: number;
  min_new_tokens?: number;
  min_length?: number;
  do_sample?: boolean;
  temperature?: number;
  top_k?: number;
  top_p?: number;
  num_beams?: number;
  length_penalty?: number;
  early_stopping?: boolean | "never";
  num_return_sequences?: number;
  repetition_penalty?: number;
  no_repeat_ngram_size?: number;
  eos_token_id?: number | number[];
  pad_token_id?: number;
  bos_token_id?: number;
  forced_bos_token_id?: number;
  forced_eos_token_id?: number[];
  decoder_start_token_id?: number;
}

type Rule = (v: unknown, isToken: (x: unknown) => boolean) => string | undefined;

const int = (lo: number, what: string): Rule => (v) => (Number.isSafeInteger(v) && (v as number) >= lo ? undefined : `must be ${what}`);
const positive: Rule = (v) => (typeof v === "number" && Number.isFinite(v) && v > 0 ? undefined : "must be a number greater than 0");
const finite: Rule = (v) => (typeof v === "number" && Number.isFinite(v) ? undefined : "must be a finite number");
const bool: Rule = (v) => (typeof v === "boolean" ? undefined : "must be a boolean");
const token: Rule = (v, isToken) => (isToken(v) ? undefined : "must be a token id of this model");
const tokens: Rule = (v, isToken) => (isToken(v) || (Array.isArray(v) && v.every(isToken)) ? undefined : "must be a token id or a list of token ids of this model");

const RULES: Record<keyof ModelGenerationDefaults, Rule> = {
  max_new_tokens: int(1, "an integer ≥ 1"),
  max_length: int(1, "an integer ≥ 1"),
  min_new_tokens: int(0, "an integer ≥ 0"),
  min_length: int(0, "an integer ≥ 0"),
  do_sample: bool,
  temperature: positive,
  top_k: int(0, "an integer ≥ 0"),
  top_p: (v) => (typeof v === "number" && v >= 0 && v <= 1 ? undefined : "must be a number between 0 and 1"),
  num_beams: int(1, "an integer ≥ 1"),
  length_penalty: finite,
  early_stopping: (v) => (typeof v === "boolean" || v === "never" ? undefined : 'must be true, false or "never"'),
  num_return_sequences: int(1, "an integer ≥ 1"),
  repetition_penalty: positive,
  no_repeat_ngram_size: int(0, "an integer ≥ 0"),
  eos_token_id: tokens,
  pad_token_id: token,
  bos_token_id: token,
  forced_bos_token_id: token,
  forced_eos_token_id: tokens,
  decoder_start_token_id: token,
};

const tokenCheck = (vocabSize?: number) => (x: unknown) => Number.isSafeInteger(x) && (x as number) >= 0 && (vocabSize === undefined || (x as number) < vocabSize);

/** Known keys with valid values. `null` means "unset", as in Hugging Face's files. `forced_eos_token_id` becomes a list. */
export function readModelDefaults(raw: Record<string, unknown>, vocabSize?: number): ModelGenerationDefaults {
  const isToken = tokenCheck(vocabSize);
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(RULES) as (keyof ModelGenerationDefaults)[]) {
    if (!Object.hasOwn(raw, key) || raw[key] === null) continue;
    if (RULES[key](raw[key], isToken) === undefined) out[key] = raw[key];
  }
  if (out.forced_eos_token_id !== undefined) out.forced_eos_token_id = ([] as number[]).concat(out.forced_eos_token_id as number | number[]);
  return out as ModelGenerationDefaults;
}

/** What is wrong with known keys of a generation_config.json (empty when all is well). */
export function modelDefaultsProblems(raw: Record<string, unknown>, vocabSize?: number, file = "generation_config.json"): FieldProblem[] {
  const isToken = tokenCheck(vocabSize);
  const problems: FieldProblem[] = [];
  for (const key of Object.keys(RULES) as (keyof ModelGenerationDefaults)[]) {
    if (!Object.hasOwn(raw, key) || raw[key] === null) continue;
    const message = RULES[key](raw[key], isToken);
    if (message) problems.push({ field: `${file}.${key}`, message: `is ${JSON.stringify(raw[key])}; ${message}` });
  }
  return problems;
}

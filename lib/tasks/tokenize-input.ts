/** The shared `prepare` step: request input → sequences, honouring `preprocessing_kwargs`. */
import type { LoadedModel } from "../inference/model.ts";
import type { Encoded, TextItem, TokenizeOptions, Truncation } from "../tokenization/tokenizer.ts";
import { fromPreprocessed, tokenVocabulary, tokenTypeProblem } from "../tokenization/preprocessed.ts";
import { invalid } from "../errors.ts";
import type { PreprocessedInput, PreprocessingKwargs, TaskRequest } from "../request/request.ts";

/**
 * `preprocessing_kwargs` as tokenizer options (parsed once, into each task's options): SPEC §3
 * defaults, capped by the model. `fallback` is the task's truncation when the client names none
 * (generation does not truncate prompts unasked); `truncation: true` is Hugging Face's
 * `longest_first` for every task.
 */
export function tokenizeOptions(kwargs: PreprocessingKwargs, modelMaxLength: number, fallback: Truncation): TokenizeOptions {
  const t = kwargs.truncation;
  const truncation: Truncation = t === undefined ? fallback : t === true ? "longest_first" : t === false ? "do_not_truncate" : t;
  return {
    maxLength: Math.min(kwargs.max_length ?? modelMaxLength, modelMaxLength),
    truncation,
    addSpecialTokens: kwargs.add_special_tokens ?? true,
    stride: kwargs.stride ?? 0,
    returnOverflowing: kwargs.return_overflowing_tokens ?? false,
  };
}

export async function tokenizeRequest(request: TaskRequest, options: TokenizeOptions, model: LoadedModel): Promise<Encoded[]> {
  if (request.is_preprocessed) return preprocessedSequences(request.input as PreprocessedInput, model);
  const sequences = await model.tokenizer.encode(request.input as TextItem[], options);
  checkLengths(sequences, model.folder.maxLength);
  return sequences;
}

/** Preprocessed rows as sequences; token_type_ids the graph cannot take must be all zero. */
export async function preprocessedSequences(input: PreprocessedInput, model: LoadedModel): Promise<Encoded[]> {
  const vocabulary = await tokenVocabulary(model.folder.tokenizerPath);
  const problem = tokenTypeProblem(input, model.capabilities.inputNames);
  if (problem) throw invalid(problem.message, problem.field);
  return fromPreprocessed(input, vocabulary.specialIds);
}

/**
 * With truncation off, a text can exceed what the model accepts; without special tokens, a text
 * (empty, or only characters the tokenizer drops) can have no token at all, and a model run on
 * zero tokens fails in the graph. Both are the client's to fix, so both are refused here.
 */
function checkLengths(sequences: readonly Encoded[], maxLength: number): void {
  const i = sequences.findIndex((s) => s.ids.length > maxLength);
  if (i >= 0) throw invalid(`input[${i}] has ${sequences[i].ids.length} tokens; the model accepts at most ${maxLength} (leave truncation on)`, `input.${i}`);
  const empty = sequences.findIndex((s) => s.ids.length === 0);
  if (empty >= 0) throw invalid(`input[${empty}] has no tokens: the text is empty or holds only characters the tokenizer drops, and add_special_tokens is false`, `input.${empty}`);
}

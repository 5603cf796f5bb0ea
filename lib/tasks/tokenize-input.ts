/** The shared `prepare` step: request input → sequences, honouring `preprocessing_kwargs`. */
import type { ModelRuntime } from "../model/runtime.ts";
import type { Encoded, TextItem, TokenizeOptions, Truncation } from "../tokenization/tokenizer.ts";
import { fromPreprocessed } from "../tokenization/preprocessed.ts";
import type { PreprocessedInput, PreprocessingKwargs, TaskRequest } from "./request.ts";

export function tokenizeOptions(kwargs: PreprocessingKwargs, modelMaxLength: number, fallback: Truncation): TokenizeOptions {
  const t = kwargs.truncation;
  const truncation: Truncation = t === undefined || t === true ? fallback : t === false ? "do_not_truncate" : t;
  return {
    maxLength: Math.min(kwargs.max_length ?? modelMaxLength, modelMaxLength),
    truncation,
    addSpecialTokens: kwargs.add_special_tokens ?? true,
    stride: kwargs.stride ?? 0,
    returnOverflowing: kwargs.return_overflowing_tokens ?? false,
  };
}

export async function tokenizeRequest(request: TaskRequest, model: ModelRuntime, fallback: Truncation = "longest_first"): Promise<Encoded[]> {
  if (request.is_preprocessed) return fromPreprocessed(request.input as PreprocessedInput);
  const options = tokenizeOptions(request.preprocessing_kwargs, model.folder.maxLength, fallback);
  return model.tokenizer.encode(request.input as TextItem[], options);
}

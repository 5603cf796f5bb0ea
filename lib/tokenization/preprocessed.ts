/** Turns `is_preprocessed` input (already tokenized arrays) into sequences; no text, so no offsets. */
import type { PreprocessedInput } from "../tasks/request.ts";
import type { Encoded } from "./tokenizer.ts";

export function fromPreprocessed(input: PreprocessedInput): Encoded[] {
  return input.input_ids.map((ids, i) => {
    const mask = input.attention_mask[i];
    const types = input.token_type_ids?.[i] ?? ids.map(() => 0);
    // Trailing zeros of the mask are padding the caller added; the batcher pads again as needed.
    let length = ids.length;
    while (length > 0 && mask[length - 1] === 0) length--;
    return {
      ids: ids.slice(0, length),
      typeIds: types.slice(0, length),
      attentionMask: mask.slice(0, length),
      specialTokensMask: ids.slice(0, length).map(() => 0),
      tokens: [],
      offsets: ids.slice(0, length).map((): [number, number] => [0, 0]),
      wordIds: ids.slice(0, length).map(() => null),
      sequenceIds: ids.slice(0, length).map(() => null),
      overflowing: [],
    };
  });
}

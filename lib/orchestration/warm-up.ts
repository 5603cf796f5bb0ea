/** One short forward pass before a replica takes work, so the first request pays no session warm-up. */
import type { LoadedModel } from "../inference/model.ts";
import { tokenizeOptions } from "../tasks/tokenize-input.ts";

export async function warmUp(runtime: LoadedModel): Promise<void> {
  const sequences = await runtime.tokenizer.encode(["warm up"], tokenizeOptions({}, runtime.folder.maxLength, "longest_first"));
  await runtime.forward(sequences);
}

/** One short forward pass before a replica takes work, so the first request pays no session warm-up. */
import type { ModelRuntime } from "./runtime.ts";

export async function warmUp(runtime: ModelRuntime): Promise<void> {
  const sequences = await runtime.tokenizer.encode(["warm up"], {
    maxLength: runtime.folder.maxLength,
    truncation: "longest_first",
    addSpecialTokens: true,
    stride: 0,
    returnOverflowing: false,
  });
  await runtime.forward(sequences);
}

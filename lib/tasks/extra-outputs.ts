/** `model_kwargs` extra outputs (attentions, hidden states) gathered per layer across items. */
import { padStack, NdArray } from "../tensor.ts";
import type { OutputValue } from "../encoding/arrays.ts";

export function collectExtraOutputs(items: Record<string, NdArray>[], names: readonly string[]): Record<string, OutputValue> {
  const groups: Record<string, NdArray[]> = {};
  for (const name of names) {
    const group = name.startsWith("attentions") ? "attentions" : "hidden_states";
    (groups[group] ??= []).push(padStack(items.map((it) => it[name])));
  }
  return groups;
}

/**
 * `model_kwargs` extra outputs gathered per layer across items (SPEC §5): `attentions` is a list
 * of (items, heads, seq, seq) arrays, `hidden_states` a list of (items, seq, hidden) arrays. Each
 * item arrives cropped to its own length (lib/batching/pad.ts), so padding from other requests
 * in the batch never shows; items shorter than the request's longest are zero-padded.
 */
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

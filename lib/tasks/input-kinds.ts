/** The kinds of text item a request may hold (SPEC §3): one text, or a pair of texts. */
export type ItemKind = "single" | "pair";

export const DESCRIBE_KIND: Readonly<Record<ItemKind, string>> = Object.freeze({ single: "a string", pair: "a pair [text, text_pair] of strings" });

export function kindOf(item: unknown): ItemKind | undefined {
  if (typeof item === "string") return "single";
  if (Array.isArray(item) && item.length === 2 && item.every((s) => typeof s === "string")) return "pair";
  return undefined;
}

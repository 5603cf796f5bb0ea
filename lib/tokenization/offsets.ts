/**
 * The Rust tokenizers report offsets in Unicode code points; JavaScript strings index UTF-16
 * code units. They differ after any astral character (emoji, some CJK), so convert. Byte-level
 * BPE gives several tokens per character and long texts many tokens, so a text with astral
 * characters gets one lookup table instead of a walk from the start for every offset.
 */
const ASTRAL = /[\uD800-\uDBFF]/;

export function codePointToUtf16(text: string, codePointIndex: number): number {
  return utf16Indexer(text)(codePointIndex);
}

/** A converter from code point index to UTF-16 index for `text` (identity without astral characters). */
export function utf16Indexer(text: string): (codePointIndex: number) => number {
  if (!ASTRAL.test(text)) return (i) => i;
  const starts: number[] = []; // UTF-16 index where each code point starts, then the text's length
  for (let units = 0; units < text.length; ) {
    starts.push(units);
    const code = text.charCodeAt(units);
    units += code >= 0xd800 && code <= 0xdbff ? 2 : 1;
  }
  starts.push(text.length);
  return (i) => starts[Math.max(0, Math.min(i, starts.length - 1))];
}

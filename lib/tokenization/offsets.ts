/**
 * The Rust tokenizers report offsets in Unicode code points; JavaScript strings index UTF-16
 * code units. They differ after any astral character (emoji, some CJK), so convert.
 */
const ASTRAL = /[\uD800-\uDBFF]/;

export function codePointToUtf16(text: string, codePointIndex: number): number {
  if (!ASTRAL.test(text)) return codePointIndex;
  let units = 0;
  let points = 0;
  while (points < codePointIndex && units < text.length) {
    const code = text.charCodeAt(units);
    units += code >= 0xd800 && code <= 0xdbff ? 2 : 1;
    points++;
  }
  return units;
}

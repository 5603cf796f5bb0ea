/** A tiny element builder: attributes by name, `text` for textContent, `on*` for listeners. */
export type Child = Node | string | number | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Record<string, unknown> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") el.textContent = String(value);
    else if (key === "class") el.className = String(value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value as EventListener);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, ...children);
  return el;
}

export function append(el: Element, ...children: Child[]): void {
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(typeof c === "number" ? String(c) : c);
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing`);
  return el as T;
}

/** A number for people: probabilities as percentages elsewhere; scores with 4 significant digits. */
export const fmt = (x: number): string => (Number.isFinite(x) ? (Math.abs(x) >= 1e-3 || x === 0 ? x.toFixed(4) : x.toExponential(2)) : String(x));

/**
 * A heat colour for a weight in [0, 1]: white to a mid blue, whose darkest stop keeps near-black
 * text above WCAG AA contrast (about 7:1).
 */
export function heat(weight: number): string {
  const w = Math.max(0, Math.min(1, Number.isFinite(weight) ? weight : 0));
  const mix = (from: number, to: number) => Math.round(from + (to - from) * w);
  return `rgb(${mix(255, 120)}, ${mix(255, 165)}, ${mix(255, 235)})`;
}

/**
 * A text with character ranges wrapped in elements; the element's textContent stays the text.
 * Ranges must not overlap (they are sorted here).
 */
export function markedText(text: string, ranges: { start: number; end: number; make: (slice: string) => HTMLElement }[]): DocumentFragment {
  const frag = document.createDocumentFragment();
  let at = 0;
  for (const r of [...ranges].sort((a, b) => a.start - b.start)) {
    if (r.start < at || r.end <= r.start) continue;
    if (r.start > at) frag.append(text.slice(at, r.start));
    frag.append(r.make(text.slice(r.start, r.end)));
    at = r.end;
  }
  if (at < text.length) frag.append(text.slice(at));
  return frag;
}

/**
 * Explanations (`attributions`): per method a column, per item the question words and the context
 * words as separate heat maps (SQuARE's question/context split: QA `[question, context]`,
 * classification pairs `[context, question]`, a single text all context).
 */
import { h, fmt, heat } from "../dom.ts";
import { Result, itemsOf, itemText } from "./common.ts";

type Word = [number, string, number];

export interface MethodResult {
  method: string;
  result?: Result;
  error?: string;
}

function words(segment: "question" | "context", list: Word[], scale: number): HTMLElement {
  const p = h("p", { class: "heat-words", "data-segment": segment });
  list.forEach(([index, word, score], k) => {
    if (k > 0) p.append(" ");
    const cell = h("span", { class: "hm-cell", "data-segment": segment, "data-index": index, "data-score": String(score), title: `${word}: ${fmt(score)}` }, word);
    cell.style.backgroundColor = heat(scale > 0 ? Math.abs(score) / scale : 0);
    p.append(cell);
  });
  return p;
}

export function explainView(body: Record<string, unknown>, methods: MethodResult[]): HTMLElement {
  const items = itemsOf(body);
  const grid = h("div", { class: "explain-grid" });
  for (const { method, result, error } of methods) {
    const column = h("section", { class: "explain-method", "data-method": method, "aria-label": `Explanation by ${method}` }, h("h3", { text: method }));
    if (error || !result) {
      column.append(h("p", { class: "error-text", text: error ?? "no result" }));
      grid.append(column);
      continue;
    }
    const attributions = (result.attributions?.[0] ?? {}) as { question_tokens?: Word[][]; context_tokens?: Word[][] };
    items.forEach((item, i) => {
      const question = attributions.question_tokens?.[i] ?? [];
      const context = attributions.context_tokens?.[i] ?? [];
      const scale = Math.max(0, ...[...question, ...context].map((w) => Math.abs(w[2])));
      const box = h("div", { class: "explain-item", "data-item": i }, items.length > 1 ? h("p", { class: "item-text small", text: itemText(item) }) : null);
      if (question.length > 0) box.append(h("h4", { text: "Question" }), words("question", question, scale));
      box.append(h("h4", { text: "Context" }), words("context", context, scale));
      column.append(box);
    });
    grid.append(column);
  }
  const legend = h("p", { class: "legend" }, "Word scores: ", h("span", { class: "legend-scale", "aria-hidden": "true" }), " low → high (each item's scores sum to 1; hover or focus a word for its score).");
  return h("div", { class: "explain" }, legend, grid);
}

/** Pieces shared by the views: items of a request, label names, a probability row. */
import { h } from "../dom.ts";

export type Result = Record<string, any>;
export type Item = string | [string, string];

export const itemsOf = (body: Record<string, unknown>): Item[] => (Array.isArray(body.input) ? (body.input as Item[]) : []);

export const itemText = (item: Item): string => (Array.isArray(item) ? `${item[0]} ‖ ${item[1]}` : item);

export const labelName = (result: Result, id: number | string): string => String(result.id2label?.[String(id)] ?? id);

/** One label: its name, a bar of its probability and the percentage (the bar is decorative). */
export function probabilityRow(name: string, p: number, predicted: boolean): HTMLElement {
  const bar = h("span", { class: "bar-fill" });
  bar.style.width = `${Math.max(0, Math.min(1, p)) * 100}%`;
  return h(
    "div",
    { class: `prob-row${predicted ? " predicted" : ""}`, "data-label": name, "data-prob": String(p) },
    h("span", { class: "prob-label", text: name }),
    h("span", { class: "bar", "aria-hidden": "true" }, bar),
    h("span", { class: "prob-value", text: `${(p * 100).toFixed(1)}%` }),
    h("span", {}, predicted ? h("span", { class: "tag", text: "predicted" }) : null),
  );
}

export const section = (title: string, ...children: (Node | null)[]): HTMLElement => h("section", { class: "view-section" }, h("h3", { text: title }), ...children);

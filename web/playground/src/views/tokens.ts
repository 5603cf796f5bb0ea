/** Token classification: the entities highlighted in each text, with label and score. */
import { h, fmt, markedText } from "../dom.ts";
import { Result, itemsOf } from "./common.ts";

interface Entity {
  entity_group?: string;
  entity?: string;
  score: number;
  word: string;
  start: number;
  end: number;
}

const labelOf = (e: Entity) => e.entity_group ?? e.entity ?? "?";
/** The class for an entity type (B-PER and PER share a colour). */
const typeClass = (label: string) => `ent-${label.replace(/^[BI]-/, "").replace(/[^A-Za-z0-9_-]/g, "") || "X"}`;

export function tokensView(body: Record<string, unknown>, result: Result): HTMLElement {
  const root = h("div", { class: "tokens" }, h("p", { class: "note", text: `Aggregation: ${result.aggregation ?? "none"}` }));
  itemsOf(body).forEach((item, i) => {
    const text = Array.isArray(item) ? item[0] : item;
    const entities = (result.entities?.[i] ?? []) as Entity[];
    const marks = entities.map((e) => ({
      start: e.start,
      end: e.end,
      make: (slice: string) => h("mark", { class: `ent ${typeClass(labelOf(e))}`, "data-label": labelOf(e), "data-start": e.start, "data-end": e.end, "data-score": String(e.score), title: `${labelOf(e)} ${fmt(e.score)}` }, slice),
    }));
    const table = h(
      "table",
      { class: "entity-table" },
      h("caption", { text: `${entities.length} entit${entities.length === 1 ? "y" : "ies"}` }),
      h("thead", {}, h("tr", {}, ...["Label", "Text", "Score", "Characters"].map((t) => h("th", { scope: "col", text: t })))),
      h("tbody", {}, ...entities.map((e) => h("tr", {}, h("td", { text: labelOf(e) }), h("td", { text: text.slice(e.start, e.end) }), h("td", { text: fmt(e.score) }), h("td", { text: `${e.start}–${e.end}` })))),
    );
    const p = h("p", { class: "entity-text", "data-item": i });
    p.append(markedText(text, marks));
    root.append(h("div", { class: "tok-item" }, p, table));
  });
  return root;
}

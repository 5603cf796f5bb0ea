/** Sequence classification: each item's labels with probability bars. */
import { h } from "../dom.ts";
import { Result, itemsOf, itemText, labelName, probabilityRow } from "./common.ts";

export function classificationView(body: Record<string, unknown>, result: Result): HTMLElement {
  const rows = (result.model_outputs?.logits ?? []) as number[][];
  const root = h("div", { class: "classification" });
  itemsOf(body).forEach((item, i) => {
    const probs = rows[i] ?? [];
    const predicted = Number(result.labels?.[i]);
    root.append(
      h(
        "div",
        { class: "cls-item", "data-item": i },
        h("h3", { class: "item-text", text: itemText(item) }),
        ...probs.map((p, k) => probabilityRow(labelName(result, k), p, k === predicted)),
      ),
    );
  });
  return root;
}

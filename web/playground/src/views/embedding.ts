/** Embeddings: the cosine similarity of every pair of inputs as a heat map (a table with headers). */
import { h, heat } from "../dom.ts";
import { Result, itemsOf, itemText } from "./common.ts";

export function cosine(a: number[], b: number[]): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

export function embeddingView(body: Record<string, unknown>, result: Result): HTMLElement {
  const embeddings = result.model_outputs?.embeddings as unknown[];
  const items = itemsOf(body).map(itemText);
  let vectors = (embeddings ?? []) as number[][];
  let names = items;
  let note = `Cosine similarity of the ${result.embedding_mode ?? ""} embeddings (${vectors[0]?.length ?? 0} dimensions).`;
  if (Array.isArray(vectors[0]?.[0])) {
    // Token mode: items × tokens × hidden; the first item's tokens against each other.
    vectors = (embeddings[0] as number[][]).filter((_, t) => result.word_ids?.[0]?.[t] !== null);
    names = vectors.map((_, t) => `token ${t}`);
    note = "Token embeddings of the first input: cosine similarity of its tokens (special tokens left out).";
  }
  const sims = vectors.map((a) => vectors.map((b) => cosine(a, b)));
  // Colours span this matrix's own range (random demo embeddings are all alike in absolute terms).
  const flat = sims.flat();
  const [lo, hi] = [Math.min(...flat), Math.max(...flat)];
  const head = h("tr", {}, h("td", {}), ...names.map((n, j) => h("th", { scope: "col", title: n }, h("span", { class: "col-name", text: `${j + 1}` }))));
  const rows = vectors.map((a, i) =>
    h(
      "tr",
      {},
      h("th", { scope: "row", class: "row-name", text: `${i + 1}. ${names[i]}` }),
      ...vectors.map((_b, j) => {
        const sim = sims[i][j];
        const cell = h("td", { class: "sim-cell", "data-row": i, "data-col": j, "data-value": String(sim), title: `${names[i]} · ${names[j]}` }, sim.toFixed(2));
        cell.style.backgroundColor = heat(hi > lo ? (sim - lo) / (hi - lo) : 1);
        return cell;
      }),
    ),
  );
  return h("div", { class: "embedding" }, h("p", { class: "note", text: note }), h("table", { class: "sim-matrix" }, h("caption", { text: `Similarity matrix: rows and columns are the inputs; 1 is the same direction. Colour from ${lo.toFixed(2)} (white) to ${hi.toFixed(2)} (blue).` }), h("thead", {}, head), h("tbody", {}, ...rows)));
}

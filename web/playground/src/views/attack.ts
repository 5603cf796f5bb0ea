/**
 * Attacks (`attack_kwargs`): the original and each variant, words that differ from the original
 * marked (removed ones listed), and the model's prediction for each variant.
 */
import { h, fmt, markedText } from "../dom.ts";
import { Result, labelName } from "./common.ts";

interface Word {
  text: string;
  start: number;
  end: number;
}

const wordsOf = (text: string): Word[] => [...text.matchAll(/\S+/g)].map((m) => ({ text: m[0], start: m.index!, end: m.index! + m[0].length }));

/** Words of `after` not in a longest common subsequence with `before`, and words of `before` left out. */
export function wordDiff(before: string, after: string): { changed: Word[]; removed: Word[] } {
  const a = wordsOf(before);
  const b = wordsOf(after);
  const dp = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) for (let j = b.length - 1; j >= 0; j--) dp[i][j] = a[i].text === b[j].text ? dp[i + 1][j + 1] + 1 : Math.max(dp[i + 1][j], dp[i][j + 1]);
  const changed: Word[] = [];
  const removed: Word[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i].text === b[j].text) {
      i++;
      j++;
    } else if (j < b.length && (i >= a.length || dp[i][j + 1] >= dp[i + 1][j])) changed.push(b[j++]);
    else removed.push(a[i++]);
  }
  return { changed, removed };
}

function segment(kind: "question" | "context", original: string, text: string, isOriginal: boolean): HTMLElement[] {
  const { changed, removed } = isOriginal ? { changed: [], removed: [] } : wordDiff(original, text);
  const p = h("p", { class: `variant-${kind}`, "data-changed": changed.length });
  p.append(markedText(text, changed.map((w) => ({ start: w.start, end: w.end, make: (s: string) => h("mark", { class: "changed", title: "changed from the original" }, s) }))));
  const out: HTMLElement[] = [h("span", { class: "segment-name", text: kind === "question" ? "Question" : "Context" }), p];
  if (removed.length > 0) out.push(h("p", { class: "removed" }, "Removed: ", ...removed.flatMap((w, k) => [k > 0 ? ", " : "", h("del", { text: w.text })])));
  return out;
}

function prediction(result: Result, k: number): HTMLElement {
  if (Array.isArray(result.answers)) {
    const best = result.answers[k]?.[0] as { answer: string; score: number; start: number; end: number } | undefined;
    const text = best ? (best.end > best.start ? `“${best.answer}”` : "(no answer)") : "–";
    return h("p", { class: "variant-prediction", "data-answer": best?.answer ?? "", "data-score": best ? String(best.score) : "" }, "Answer: ", h("strong", { text }), best ? ` (score ${fmt(best.score)})` : "");
  }
  const label = result.labels?.[k];
  const probs = result.model_outputs?.logits?.[k] as number[] | undefined;
  const p = probs?.[label];
  return h("p", { class: "variant-prediction", "data-label": labelName(result, label) }, "Prediction: ", h("strong", { text: labelName(result, label) }), p !== undefined ? ` (${(p * 100).toFixed(1)}%)` : "");
}

/** What "the prediction changed" compares (docs/attacks.md): the label, or the best answer's span. */
function predictedKey(result: Result, k: number): string {
  if (!Array.isArray(result.answers)) return String(result.labels?.[k]);
  const best = result.answers[k]?.[0] as { start: number; end: number } | undefined;
  return best ? `${best.start}:${best.end}` : "";
}

export function attackView(result: Result): HTMLElement {
  const contexts = (result.contexts ?? []) as string[];
  const questions = (result.questions ?? []) as string[];
  const adversarial = (result.adversarial ?? {}) as { method?: string; indices?: number[]; flips?: Record<string, unknown>[]; prediction_changed?: boolean };
  const list = h("ol", { class: "variants" });
  contexts.forEach((context, k) => {
    const differs = k > 0 && predictedKey(result, k) !== predictedKey(result, 0);
    list.append(
      h(
        "li",
        { class: `attack-variant${differs ? " prediction-changed" : ""}`, "data-variant": k },
        h("h3", { text: k === 0 ? "Original" : `Variant ${k}` }),
        ...(questions.length > 0 ? segment("question", questions[0], questions[k] ?? "", k === 0) : []),
        ...segment("context", contexts[0], context, k === 0),
        prediction(result, k),
        differs ? h("p", { class: "tag warn", text: "prediction differs from the original" }) : null,
      ),
    );
  });
  const summary = h("p", { class: "note" }, `Method ${adversarial.method ?? "?"}; word indices ${JSON.stringify(adversarial.indices ?? [])}`, adversarial.prediction_changed !== undefined ? `; prediction changed: ${adversarial.prediction_changed}` : "");
  const flips = adversarial.flips?.length
    ? h(
        "table",
        { class: "flips" },
        h("caption", { text: "HotFlip flips, in order" }),
        h("thead", {}, h("tr", {}, ...["Word index", "From", "To", "Estimated loss change", "Loss change"].map((t) => h("th", { scope: "col", text: t })))),
        h("tbody", {}, ...adversarial.flips.map((f) => h("tr", {}, ...[f.index, f.from, f.to, fmt(Number(f.estimated_loss_change)), fmt(Number(f.loss_change))].map((v) => h("td", { text: String(v) }))))),
      )
    : null;
  return h("div", { class: "attack" }, summary, list, flips);
}

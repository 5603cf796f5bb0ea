/**
 * Question answering: the top answers with scores; the chosen one (the best at first) highlighted
 * in the context, which scrolls for long contexts.
 */
import { h, fmt, markedText } from "../dom.ts";
import { Result, itemsOf } from "./common.ts";

interface Answer {
  score: number;
  start: number;
  end: number;
  answer: string;
}

export function qaView(body: Record<string, unknown>, result: Result): HTMLElement {
  const root = h("div", { class: "qa" });
  itemsOf(body).forEach((item, i) => {
    const [question, context] = Array.isArray(item) ? item : ["", item];
    const answers = (result.answers?.[i] ?? []) as Answer[];
    const contextBox = h("div", { class: "qa-context", tabindex: "0", role: "region", "aria-label": "Context with the chosen answer highlighted", "data-item": i });
    const list = h("ol", { class: "qa-answers", "aria-label": "Answers, best first" });
    const buttons: HTMLButtonElement[] = [];
    const choose = (k: number) => {
      const a = answers[k];
      buttons.forEach((b, j) => b.setAttribute("aria-pressed", String(j === k)));
      contextBox.replaceChildren(
        markedText(context, a && a.end > a.start ? [{ start: a.start, end: a.end, make: (s) => h("mark", { class: "qa-highlight", "data-rank": k, "data-start": a.start, "data-end": a.end, "data-score": String(a.score) }, s) }] : []),
      );
      // Scroll the context (not the page) to put the answer in the middle of the box.
      const mark = contextBox.querySelector("mark");
      if (mark) contextBox.scrollTop = Math.max(0, mark.offsetTop - contextBox.clientHeight / 2);
    };
    const best = Math.max(0, ...answers.map((a) => a.score));
    answers.forEach((a, k) => {
      // Bars relative to the best answer (scores are probabilities over all spans, often small).
      const bar = h("span", { class: "bar-fill" });
      bar.style.width = `${best > 0 ? Math.max(0, a.score / best) * 100 : 0}%`;
      const button = h(
        "button",
        { type: "button", class: "qa-answer", "data-rank": k, "data-score": String(a.score), "aria-pressed": "false", title: `characters ${a.start}–${a.end}`, onclick: () => choose(k) },
        h("span", { class: "answer-text", text: a.end > a.start ? a.answer : "(no answer)" }),
        " ",
        h("span", { class: "bar", "aria-hidden": "true" }, bar),
        h("span", { class: "prob-value", text: fmt(a.score) }),
      );
      buttons.push(button);
      list.append(h("li", {}, button));
    });
    choose(0);
    const hint = h("p", { class: "note", text: `${answers.length} best answers with their scores; choose one to highlight it in the context (${context.length} characters).` });
    root.append(h("div", { class: "qa-item" }, h("h3", { class: "item-text", text: `Question: ${question}` }), hint, list, contextBox));
  });
  return root;
}

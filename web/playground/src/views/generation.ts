/** Generation: each prompt's sequences, filled token by token while streaming, then the final texts. */
import { h } from "../dom.ts";
import type { TokenEvent } from "../api.ts";
import { Result } from "./common.ts";

export class GenerationView {
  readonly el: HTMLElement;
  private readonly outputs = new Map<string, HTMLElement>();
  private readonly prompts: HTMLElement[];

  constructor(promptTexts: string[]) {
    this.prompts = promptTexts.map((p, i) => h("div", { class: "gen-prompt", "data-prompt": i }, h("h3", { class: "item-text", text: `Prompt: ${p}` })));
    this.el = h("div", { class: "generation" }, ...this.prompts);
  }

  private output(prompt: number, sequence: number): HTMLElement {
    const key = `${prompt}/${sequence}`;
    let out = this.outputs.get(key);
    if (!out) {
      out = h("pre", { class: "gen-output streaming", "data-prompt": prompt, "data-sequence": sequence, "data-token-events": 0, "data-streamed": "", "aria-label": `Prompt ${prompt + 1}, sequence ${sequence + 1}` });
      this.outputs.set(key, out);
      this.prompts[prompt]?.append(out);
    }
    return out;
  }

  token(e: TokenEvent): void {
    const out = this.output(e.prompt, e.sequence);
    out.textContent += e.text;
    out.dataset.streamed = (out.dataset.streamed ?? "") + e.text;
    out.dataset.tokenEvents = String(Number(out.dataset.tokenEvents) + 1);
  }

  finish(result: Result): void {
    const texts = (result.generated_texts ?? []) as string[][];
    texts.forEach((seqs, i) =>
      seqs.forEach((text, j) => {
        const out = this.output(i, j);
        out.classList.remove("streaming");
        out.textContent = text;
        const reason = result.finish_reasons?.[i]?.[j];
        if (reason) out.after(h("p", { class: "note", text: `Sequence ${j + 1}: finished by ${reason}` }));
      }),
    );
  }
}

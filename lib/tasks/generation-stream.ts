/**
 * Streaming text of running generations (SPEC §6.5 streaming route): after each step, the new
 * tokens of each sequence as text. Text is decoded from the sequence's whole token list and the
 * part not sent yet goes out, so a character split over several byte-level tokens is sent once it
 * is complete. Beam search knows its sequences only when a prompt finishes: they go out then.
 */
import type { Decoding, StepOutcome } from "../generation/types.ts";
import type { TextTokenizer } from "../tokenization/tokenizer.ts";
import type { ProgressEvent } from "./types.ts";

/** U+FFFD at the end: a multi-byte character whose last bytes have not been generated yet. */
const INCOMPLETE = /\uFFFD$/;

export class SequenceStreams {
  private readonly tokens = new Map<string, number[]>();
  private readonly sent = new Map<string, string>();

  constructor(
    private readonly tokenizer: TextTokenizer,
    private readonly listener: (event: ProgressEvent) => void,
    private readonly beams: boolean,
  ) {}

  async absorb(decoding: Decoding, outcome: StepOutcome): Promise<void> {
    if (!this.beams) {
      for (const { prompt, sequence, token } of outcome.emitted) await this.add(prompt, sequence, [token], false);
      for (const prompt of outcome.finished) for (const [sequence] of decoding.result(prompt).sequences.entries()) await this.add(prompt, sequence, [], true);
      return;
    }
    for (const prompt of outcome.finished) {
      for (const [sequence, s] of decoding.result(prompt).sequences.entries()) await this.add(prompt, sequence, s.tokens, true);
    }
  }

  private async add(prompt: number, sequence: number, tokens: number[], last: boolean): Promise<void> {
    const key = `${prompt}:${sequence}`;
    const all = [...(this.tokens.get(key) ?? []), ...tokens];
    this.tokens.set(key, all);
    const text = await this.tokenizer.decode(all);
    const before = this.sent.get(key) ?? "";
    if (!last && INCOMPLETE.test(text)) {
      if (tokens.length) this.listener({ prompt, sequence, tokens, text: "" });
      return;
    }
    const delta = text.startsWith(before) ? text.slice(before.length) : text;
    this.sent.set(key, text);
    if (tokens.length || delta) this.listener({ prompt, sequence, tokens, text: delta });
  }
}

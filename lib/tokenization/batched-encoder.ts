/**
 * Single texts tokenized in the same event-loop turn go to the Rust binding as one `encodeBatch`:
 * one hand-off to its thread pool and one completion back, instead of one per text. Each hand-off
 * wakes another thread, and on a small virtualised host that wake-up, not the tokenization,
 * was most of the main thread's tokenization time (docs/benchmarks.md "Request path").
 * The batch is cut in the check phase of the same turn (setImmediate): no added wait.
 * Pairs are not batched: the binding's encodeBatch takes single texts only.
 */
import type tokenizers from "tokenizers";

type RustTokenizer = InstanceType<typeof tokenizers.Tokenizer>;
export type RustEncoding = Awaited<ReturnType<RustTokenizer["encode"]>>;

interface Waiting {
  text: string;
  resolve: (encoding: RustEncoding) => void;
  reject: (err: Error) => void;
}

export class BatchedEncoder {
  private waiting: Waiting[] = [];

  constructor(
    private readonly tokenizer: RustTokenizer,
    private readonly options: { addSpecialTokens: boolean },
  ) {}

  encode(text: string): Promise<RustEncoding> {
    return new Promise((resolve, reject) => {
      if (this.waiting.push({ text, resolve, reject }) === 1) setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    const batch = this.waiting;
    this.waiting = [];
    this.tokenizer.encodeBatch(batch.map((w) => w.text), this.options).then(
      (encodings) => batch.forEach((w, i) => w.resolve(encodings[i])),
      // A text the binding refuses fails the whole batch: each is tried alone, so it fails alone.
      () => {
        for (const w of batch) this.tokenizer.encode(w.text, null, this.options).then(w.resolve, w.reject);
      },
    );
  }
}

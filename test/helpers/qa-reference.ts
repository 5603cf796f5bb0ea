/**
 * An independent question-answering decoder for long contexts, sharing no code with the server:
 * the Rust binding tokenizes the whole pair once (no truncation, so its broken overflow windows,
 * upstream issue 2091, play no part), the windows are cut here with Hugging Face's semantics
 * (capacity = max_seq_len − question tokens − special tokens; consecutive windows overlap by
 * doc_stride tokens; the question's tokens past max_question_len dropped), each window runs
 * through onnxruntime-node directly, and spans are scored per SPEC §6.4.
 */
import { join } from "node:path";
import tokenizers from "tokenizers";
import * as ort from "onnxruntime-node";

export type RawTokenizer = InstanceType<typeof tokenizers.Tokenizer>;

const WORDS = ("the a man old dog river city house tree walk went came after before rain sun day night with from to in on by " +
  "mother father children school mountain sea light story paper car book song world home food land people").split(" ");

/** A deterministic pseudo-random ASCII text of at least `chars` characters (mulberry32 over a word list, in sentences). */
export function text(seed: number, chars: number): string {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out: string[] = [];
  let length = 0;
  while (length < chars) {
    const sentence = Array.from({ length: 6 + Math.floor(next() * 8) }, () => WORDS[Math.floor(next() * WORDS.length)]).join(" ");
    out.push(sentence[0].toUpperCase() + sentence.slice(1) + ".");
    length += sentence.length + 2;
  }
  return out.join(" ");
}

export interface ReferenceOptions {
  maxSeqLen: number;
  /** A number, or "default": min(128, half the window's capacity), the server's documented default. */
  docStride: number | "default";
  questionLimit: number;
  maxAnswerLen: number;
}

export interface RefWindow {
  ids: number[];
  typeIds: number[];
  /** Per position: the context token index, or -1 for question and special tokens. */
  contextToken: number[];
}

export interface Reference {
  windows: RefWindow[];
  /** Context tokens per window (the same for every window but a short last one). */
  capacity: number;
  /** Character offsets of each context token in the context (ASCII text: code points are string indices). */
  offsets: [number, number][];
  /** The best span: score, characters, window index and first context token. */
  best: { score: number; start: number; end: number; window: number; a: number };
}

export interface ReferenceModel {
  tok: RawTokenizer;
  session: ort.InferenceSession;
  release(): Promise<void>;
}

/** The fixture's tokenizer (truncation and padding off) and an ONNX Runtime session on its model. */
export async function referenceModel(folder: string): Promise<ReferenceModel> {
  const tok = tokenizers.Tokenizer.fromFile(join(folder, "tokenizer.json"));
  tok.disableTruncation();
  tok.disablePadding();
  const session = await ort.InferenceSession.create(join(folder, "model.onnx"));
  return { tok, session, release: () => session.release() };
}

export async function reference(model: ReferenceModel, question: string, context: string, options: ReferenceOptions): Promise<Reference> {
  const full = await model.tok.encode(question, context);
  const seq = full.getSequenceIds();
  const ids = full.getIds();
  const types = full.getTypeIds();
  // Keep the first `questionLimit` question tokens, every special token and every context token.
  let questionSeen = 0;
  const kept = seq.flatMap((s, t) => (s !== 0 || questionSeen++ < options.questionLimit ? [t] : []));
  const first = kept.findIndex((t) => seq[t] === 1);
  const last = kept.length - 1 - [...kept].reverse().findIndex((t) => seq[t] === 1);
  const offsets = full.getOffsets().filter((_, t) => seq[t] === 1) as [number, number][];
  const n = last - first + 1;
  const capacity = options.maxSeqLen - (kept.length - n);
  const overlap = options.docStride === "default" ? Math.min(128, Math.floor(capacity / 2)) : options.docStride;
  const windows: RefWindow[] = [];
  for (let start = 0; ; start += capacity - overlap) {
    const stop = Math.min(start + capacity, n);
    const positions = [...kept.slice(0, first), ...kept.slice(first + start, first + stop), ...kept.slice(last + 1)];
    windows.push({
      ids: positions.map((t) => ids[t]),
      typeIds: positions.map((t) => types[t]),
      contextToken: [...kept.slice(0, first).map(() => -1), ...kept.slice(first + start, first + stop).map((_, k) => start + k), ...kept.slice(last + 1).map(() => -1)],
    });
    if (stop >= n) break;
  }
  let best = { score: -1, start: 0, end: 0, window: -1, a: -1 };
  for (const [k, w] of windows.entries()) {
    const [startLogits, endLogits] = await run(model.session, w);
    const allowed = w.contextToken.map((c, t) => c >= 0 || t === 0);
    const ps = softmax(startLogits, allowed);
    const pe = softmax(endLogits, allowed);
    for (let a = 0; a < w.ids.length; a++) {
      if (w.contextToken[a] < 0) continue;
      for (let b = a; b < Math.min(w.ids.length, a + options.maxAnswerLen); b++) {
        if (w.contextToken[b] < 0 || ps[a] * pe[b] <= best.score) continue;
        best = { score: ps[a] * pe[b], start: offsets[w.contextToken[a]][0], end: offsets[w.contextToken[b]][1], window: k, a: w.contextToken[a] };
      }
    }
  }
  return { windows, capacity, offsets, best };
}

/** Hugging Face's window count for n context tokens. */
export const hfWindowCount = (n: number, capacity: number, stride: number): number => (n <= capacity ? 1 : 1 + Math.ceil((n - capacity) / (capacity - stride)));

function softmax(logits: Float32Array, allowed: boolean[]): number[] {
  const max = Math.max(...Array.from(logits).filter((_, t) => allowed[t]));
  const exps = Array.from(logits, (v, t) => (allowed[t] ? Math.exp(v - max) : 0));
  const sum = exps.reduce((x, y) => x + y, 0);
  return exps.map((e) => e / sum);
}

async function run(session: ort.InferenceSession, w: RefWindow): Promise<[Float32Array, Float32Array]> {
  const tensor = (values: number[]) => new ort.Tensor("int64", BigInt64Array.from(values.map(BigInt)), [1, values.length]);
  const feeds: Record<string, ort.Tensor> = { input_ids: tensor(w.ids), attention_mask: tensor(w.ids.map(() => 1)) };
  if (session.inputNames.includes("token_type_ids")) feeds.token_type_ids = tensor(w.typeIds);
  const out = await session.run(feeds);
  return [out.start_logits.data as Float32Array, out.end_logits.data as Float32Array];
}

/**
 * fast-check arbitraries of hostile requests for the route fuzz suite (routes.test.ts).
 *
 * Bodies are JSON-like values written by `toJson`, which can say two things JSON.stringify cannot:
 * number literals kept verbatim (`RawNumber`: `1e999` parses to Infinity on the server, `-0` stays
 * -0) and own properties named like Object.prototype members, `__proto__` included (built by `obj`).
 * Most generated bodies are *nearly* valid, so they get past validation and reach the tokenizer
 * and ONNX Runtime with values at and beyond every boundary; the rest are plainly malformed.
 */
import fc from "fast-check";
import { gzipSync, deflateSync } from "node:zlib";

export class RawNumber {
  constructor(readonly text: string) {}
}

/** One request. `body` is JSON-like (see toJson); `raw` is sent byte for byte (latin1: one char = one byte). */
export interface FuzzCase {
  method: "GET" | "POST";
  path: string;
  body?: unknown;
  raw?: string;
  headers?: Record<string, string>;
  /** The task route it targets, for the result oracle. */
  task?: Task;
  /** A `/generation/stream` request: the answer is server-sent events (or a JSON refusal). */
  stream?: boolean;
  /** Stream only: the client goes away after this many bytes of the answer (the generation must stop, the server live on). */
  abortAfter?: number;
}

export type TextTask = "sequence-classification" | "token-classification" | "embedding" | "question-answering";
export const TEXT_TASKS: readonly TextTask[] = ["sequence-classification", "token-classification", "embedding", "question-answering"];
export type Task = TextTask | "generation";
export const FAMILIES = ["bert", "roberta", "distilbert"] as const;
const HEAD: Record<TextTask, string> = { "sequence-classification": "sst", "token-classification": "ner", embedding: "base", "question-answering": "qa" };
export const modelFor = (family: string, task: TextTask) => `${family}-tiny-${HEAD[task]}`;
/** Served by routes.test.ts: every family × head, plus one id in the `{hf_username}/{identifier}` form. */
export const SLASH_MODEL = "fuzz/bert-tiny-sst";
/** The generative demo fixtures (SPEC §6.5): what the oracle needs to know of each. */
export const GEN_MODELS = ["gpt2-tiny", "t5-tiny", "bart-tiny"] as const;
export type GenModel = (typeof GEN_MODELS)[number];
export const GEN_FACTS: Record<GenModel, { vocab: number; positions: number; decoderOnly: boolean }> = {
  "gpt2-tiny": { vocab: 857, positions: 128, decoderOnly: true },
  "t5-tiny": { vocab: 682, positions: 512, decoderOnly: false },
  "bart-tiny": { vocab: 861, positions: 64, decoderOnly: false },
};
export const isGenModel = (model: string): model is GenModel => (GEN_MODELS as readonly string[]).includes(model);
export const MODELS = [...FAMILIES.flatMap((f) => TEXT_TASKS.map((t) => modelFor(f, t))), SLASH_MODEL, ...GEN_MODELS];
export const TASK_OF = (model: string): Task => (isGenModel(model) ? "generation" : TEXT_TASKS.find((t) => model.endsWith(`-${HEAD[t]}`))!);

export const PROTO_KEYS = ["__proto__", "constructor", "toString", "hasOwnProperty", "valueOf", "isPrototypeOf"] as const;

/** An object with exactly these own enumerable keys, even `__proto__` (a literal or assignment would set the prototype). */
export function obj(entries: readonly (readonly [string, unknown])[]): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const [k, v] of entries) if (v !== undefined) Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  return o;
}

const ownEntries = (o: object) => Object.keys(o).map((k) => [k, Object.getOwnPropertyDescriptor(o, k)!.value] as const);

export function toJson(v: unknown): string {
  if (v instanceof RawNumber) return v.text;
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined ? "null" : toJson(x))).join(",")}]`;
  if (v !== null && typeof v === "object") return `{${ownEntries(v).filter(([, x]) => x !== undefined).map(([k, x]) => `${JSON.stringify(k)}:${toJson(x)}`).join(",")}}`;
  return JSON.stringify(v) ?? "null";
}

// ---- scalars -------------------------------------------------------------------------------

const EDGE_NUMBERS: unknown[] = [
  0, 1, -1, 2, 0.5, -0.5, 1.5, 1e15, -1e15, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 + 2, 1e308, -1e308, 5e-324,
  new RawNumber("-0"), new RawNumber("1e999"), new RawNumber("-1e999"), new RawNumber("1.0"), new RawNumber("123456789012345678901234567890"),
];
const NUMBERISH_STRINGS = ["1", "0", "-1", "NaN", "Infinity", "-Infinity", "1e308", "", "0x10", " 2 ", "true", "null"];

export const hostileScalar: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(...EDGE_NUMBERS),
  fc.constantFrom(...NUMBERISH_STRINGS),
  fc.constantFrom(true, false, null),
  fc.integer({ min: -1000, max: 100_000 }),
  fc.double(),
  fc.constant([]),
  fc.constant({}),
);

const oddKey = fc.constantFrom<string>(...PROTO_KEYS, "unknown_option", "", "MAX_LENGTH");

/** Any value, nested a little: wrong types where structure is expected. */
export const hostileValue: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { maxDepth: 3, withCrossShrink: true },
    hostileScalar,
    fc.array(tie("value"), { maxLength: 3 }),
    fc.array(fc.tuple(oddKey, tie("value")), { maxLength: 3 }).map(obj),
  ),
})).value;

/** Values for prototype-named keys: besides junk, objects that would poison a prototype if merged by assignment. */
const poison = fc.oneof(
  hostileValue,
  fc.constantFrom<unknown>(
    { is_preprocessed: true },
    { max_length: 1, stride: 1000, return_overflowing_tokens: true },
    { topk: 1e15, doc_stride: 1e15 },
    { batch_size: 1e308, max_input: 0 },
    { input: 5 },
  ),
);

/** Absent most of the time (shrinks to absent). */
export const maybe = <T>(arb: fc.Arbitrary<T>, present = 1, absent = 2): fc.Arbitrary<T | undefined> =>
  fc.oneof({ withCrossShrink: true }, { weight: absent, arbitrary: fc.constant(undefined) }, { weight: present, arbitrary: arb });

/** An option value: mostly the boundary values given, sometimes anything. */
const opt = (edges: readonly unknown[]) =>
  fc.oneof({ weight: 12, arbitrary: fc.constantFrom(...edges) }, { weight: 1, arbitrary: hostileScalar }, { weight: 1, arbitrary: hostileValue });

/** An options object: each key present ~1/3 of the time, and now and then a prototype-named or unknown key. */
function options(spec: Record<string, readonly unknown[]>): fc.Arbitrary<Record<string, unknown>> {
  const keys = Object.keys(spec);
  return withOddKey(fc.tuple(...keys.map((k) => maybe(opt(spec[k]), 1, 2))).map((values) => obj(keys.map((k, i) => [k, values[i]]))));
}

export function withOddKey(arb: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<Record<string, unknown>> {
  return fc.tuple(arb, maybe(fc.tuple(oddKey, poison), 1, 10)).map(([o, extra]) => (extra ? obj([...ownEntries(o), extra]) : o));
}

// ---- text ----------------------------------------------------------------------------------

const WORDS = "the a movie was great bad not Paris John Smith lives in London question answer context".split(" ");
const ODD_PIECES = [
  "\uD800", "\uDFFF", "a\uD83D", "\uDE00b", "e\u0301", "\u0301\u0301\u0301", "\u202Eevil\u202C", "\u200F", "שלום עולם", "مرحبا",
  "👩‍👩‍👧‍👦", "🏳️‍🌈", "🙂", "\u0000", "\uFFFF", "\uFFFE", "\uFEFF", "\u200B", "\t\n\r", "\u3000", "[CLS]", "[SEP]", "[PAD]",
  "[MASK]", "[UNK]", "<s>", "</s>", "<pad>", "<mask>", "<unk>", "##ing", "Ġ", "\\", "\"", "%s", "𝔘𝔫𝔦", "ǅ", "İ", "ß", "ﬀ", "㍻",
  "\u1100\u1161", "日本語テキスト", "...", "?!", "don't",
];
const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));
const piece = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(...WORDS) },
  { weight: 3, arbitrary: fc.constantFrom(...ODD_PIECES) },
  { weight: 1, arbitrary: loneSurrogate },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 6 }) },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme", maxLength: 4 }) },
);
/** A word of 100..2000 repetitions: WordPiece gives up on long words, BPE does not. */
const longWord = fc.tuple(fc.constantFrom("a", "é", "🙂", "\u0301", "x\u200d", "ab "), fc.integer({ min: 100, max: 2000 })).map(([c, n]) => c.repeat(n));

export const text: fc.Arbitrary<string> = fc.oneof(
  { weight: 10, arbitrary: fc.tuple(fc.array(piece, { minLength: 1, maxLength: 12 }), fc.constantFrom(" ", " ", "", "\n", "\u3000")).map(([ps, sep]) => ps.join(sep)) },
  { weight: 1, arbitrary: longWord },
  { weight: 1, arbitrary: fc.constantFrom("", " ", "\u0000", "\uD800") },
);

/** A context longer than 5000 characters: many QA windows. Odd pieces are woven in. */
export const longText: fc.Arbitrary<string> = fc.tuple(fc.integer({ min: 5001, max: 9000 }), fc.array(piece, { minLength: 1, maxLength: 6 })).map(([n, odd]) => {
  const parts: string[] = [];
  for (let i = 0, len = 0; len < n; i++) {
    const p = i % 9 === 4 ? odd[i % odd.length] : WORDS[(i * 7) % WORDS.length];
    parts.push(p);
    len += p.length + 1;
  }
  return parts.join(" ").slice(0, n);
});

// ---- request bodies ------------------------------------------------------------------------

const preprocessingKwargs = options({
  max_length: [0, 1, 2, 3, 4, 5, 6, 8, 16, 126, 127, 128, 129, 130, 512],
  stride: [0, 1, 2, 3, 4, 5, 6, 7, 8, 16, 63, 64, 126, 127, 128, 129],
  truncation: [true, false, "only_first", "only_second", "longest_first", "do_not_truncate", "bogus"],
  padding: [true, false, "longest", "max_length", "do_not_pad", "bogus"],
  add_special_tokens: [true, false],
  return_overflowing_tokens: [true, false],
});

const TASK_OPTIONS: Record<TextTask, Record<string, readonly unknown[]>> = {
  "sequence-classification": { is_regression: [true, false] },
  "token-classification": { aggregation: ["none", "simple", "first", "average", "max", "", "NONE", "bogus"] },
  embedding: { embedding_mode: ["mean", "max", "cls", "pooler", "token", "", "MEAN", "bogus"], normalize: [true, false] },
  "question-answering": {
    topk: [0, 1, 2, 3, 5, 20, 1000, 1001, 1e6],
    max_answer_len: [0, 1, 2, 3, 30, 128, 129, 1e6],
    show_null_answers: [true, false],
    doc_stride: [0, 1, 2, 3, 8, 16, 32, 60, 61, 62, 63, 64, 100, 120, 126, 127, 128, 129, 1e6],
    max_seq_len: [1, 2, 3, 4, 5, 6, 8, 16, 32, 64, 100, 126, 127, 128, 129, 130, 384, 512],
    max_question_len: [0, 1, 2, 3, 4, 8, 64, 126, 127, 128, 129],
  },
};

const modelKwargs = options({ output_attentions: [true, false], output_hidden_states: [true, false], average_adapters: [true, false] });
const explainKwargs = withOddKey(
  fc.tuple(opt(["simple_grads", "integrated_grads", "smooth_grads", "attention", "scaled_attention", "bogus"]), options({
    top_k: [0, 1, 2, 10, 1000, 1001],
    mode: ["question", "context", "all", "bogus"],
    steps: [0, 1, 2, 10, 200, 201],
    samples: [0, 1, 2, 10, 200, 201],
    noise: [0, 0.01, 1, 10, 10.000001, -0.01],
    seed: [0, 1, 2 ** 32 - 1, 2 ** 32],
  })).map(([method, rest]) => obj([["method", method], ...ownEntries(rest)])),
);
const attackKwargs = options({
  method: ["hotflip", "input_reduction", "sub_span", "topk_tokens", "bogus"],
  saliency_method: ["simple_grads", "attention", "bogus"],
  max_flips: [0, 1, 10, 1e15],
  include_answer: [true, false],
  max_reductions: [0, 1, 10, 1e15],
  max_tokens: [0, 1, 10, 1e15],
});
const adapterName = fc.constantFrom<unknown>("", "x", ["a", "b"], [], 5, null, "__proto__", ["constructor"]);

const pairOf = (q: fc.Arbitrary<string>, c: fc.Arbitrary<string>) => fc.tuple(q, c).map(([a, b]) => [a, b]);
const MANY = Array.from({ length: 1025 }, () => "a");
/** `input` values of the wrong shape for any task. */
const badInput = fc.oneof(
  hostileValue,
  fc.constantFrom<unknown>([], [["q"]], [["q", "c", "x"]], [["q", 5]], [["q", ["c"]]], ["a", ["b", "c"]], [null], { input_ids: [[1, 2]] }, MANY),
);

function inputFor(task: TextTask): fc.Arbitrary<unknown> {
  const good = task === "question-answering"
    ? fc.array(pairOf(text, fc.oneof({ weight: 3, arbitrary: text }, { weight: 2, arbitrary: longText })), { minLength: 1, maxLength: 3 })
    : task === "embedding"
      ? fc.array(text, { minLength: 1, maxLength: 4 })
      : fc.oneof(fc.array(text, { minLength: 1, maxLength: 4 }), fc.array(pairOf(text, text), { minLength: 1, maxLength: 3 }));
  return fc.oneof({ weight: 8, arbitrary: good }, { weight: 1, arbitrary: badInput });
}

/** A task body: text input (mostly well-formed) with every option at and beyond its boundaries. */
export function textTaskBody(task: TextTask): fc.Arbitrary<unknown> {
  const explainable = task === "sequence-classification" || task === "question-answering";
  return withOddKey(
    fc.record({
      input: inputFor(task),
      preprocessing_kwargs: maybe(preprocessingKwargs, 1, 1),
      task_kwargs: maybe(options(TASK_OPTIONS[task]), 3, 1),
      model_kwargs: maybe(modelKwargs, 1, 4),
      explain_kwargs: maybe(explainKwargs, 1, explainable ? 5 : 20),
      attack_kwargs: maybe(attackKwargs, 1, 30),
      adapter_name: maybe(adapterName, 1, 20),
      is_preprocessed: maybe(fc.constantFrom<unknown>(false, true, "true", 0, null), 1, 20),
    }).map((r) => obj(Object.entries(r))),
  );
}

/** Rows are mostly in-vocabulary (every family's vocabulary has ≥ 799 ids); a dirty row has edge ids too. */
const oddId = fc.constantFrom<unknown>(-1, 0, 798, 799, 800, 860, 861, 862, 1e15, 2 ** 31, 2 ** 53, 0.5, new RawNumber("-0"), new RawNumber("1e999"), "5", null, true);
const cleanRow = fc.array(fc.integer({ min: 0, max: 798 }), { maxLength: 140 });
const dirtyRow = fc.array(fc.oneof({ weight: 10, arbitrary: fc.integer({ min: 0, max: 900 }) }, { weight: 1, arbitrary: oddId }), { maxLength: 140 });
const bits = (values: number[]) => fc.array(fc.array(fc.constantFrom(...values), { maxLength: 140 }), { maxLength: 3 });

/** `is_preprocessed` input: out-of-vocab and huge ids, rows past the model's length, ragged and empty rows, odd masks. */
export const preprocessedInput: fc.Arbitrary<Record<string, unknown>> = fc.array(fc.oneof({ weight: 5, arbitrary: cleanRow }, { weight: 1, arbitrary: dirtyRow }), { maxLength: 3 }).chain((ids) =>
  fc.record({
    mask: fc.oneof(
      { weight: 6, arbitrary: fc.constant(ids.map((r) => r.map(() => 1))) },
      { weight: 2, arbitrary: fc.constant(ids.map((r) => r.map((_, i) => (i < r.length / 2 ? 1 : 0)))) },
      { weight: 1, arbitrary: fc.constant(ids.map((r) => r.map(() => 0))) },
      { weight: 1, arbitrary: bits([0, 1, 2, -1]) },
    ),
    types: maybe(fc.oneof(fc.constant(ids.map((r) => r.map(() => 0))), fc.constant(ids.map((r) => r.map((_, i) => i % 2))), bits([0, 1, 2]))),
  }).map(({ mask, types }) => obj([["input_ids", ids], ["attention_mask", mask], ["token_type_ids", types]])),
);

export function preprocessedBody(task: TextTask): fc.Arbitrary<unknown> {
  return withOddKey(
    fc.record({
      input: fc.oneof({ weight: 8, arbitrary: withOddKey(preprocessedInput) }, { weight: 1, arbitrary: badInput }),
      is_preprocessed: fc.oneof({ weight: 10, arbitrary: fc.constant<unknown>(true) }, { weight: 1, arbitrary: hostileScalar }),
      task_kwargs: maybe(options(TASK_OPTIONS[task]), 1, 1),
      preprocessing_kwargs: maybe(preprocessingKwargs, 1, 8),
      model_kwargs: maybe(modelKwargs, 1, 4),
      explain_kwargs: maybe(explainKwargs, 1, 10),
    }).map((r) => obj(Object.entries(r))),
  );
}

/** POST /{model}/{task}: the model usually serves the task, sometimes not (422 naming `task`). */
export function taskCase(tasks: readonly TextTask[], body: (t: TextTask) => fc.Arbitrary<unknown>, families: readonly string[] = FAMILIES): fc.Arbitrary<FuzzCase> {
  return fc.constantFrom(...tasks).chain((task) =>
    fc.record({
      model: fc.oneof({ weight: 30, arbitrary: fc.constantFrom(...families).map((f) => modelFor(f, task)) }, { weight: 1, arbitrary: fc.constantFrom(...MODELS) }),
      body: body(task),
    }).map(({ model, body: b }): FuzzCase => ({ method: "POST", path: `/${model}/${task}`, body: b, task })),
  );
}

// ---- generation (SPEC §6.5) ---------------------------------------------------------------

/** Boundary values of every generation option (lib/generation/options.ts): valid ones, and just past each bound. */
const GEN_VALID: Record<string, readonly unknown[]> = {
  max_new_tokens: [1, 1, 2, 3, 4, 5, 8, 12, 20, 63, 127],
  max_length: [1, 2, 3, 4, 6, 8, 12, 16, 24, 64, 65, 128],
  min_new_tokens: [0, 1, 2, 5, 20, 1024],
  min_length: [0, 1, 2, 5, 30, 128, 8192],
  do_sample: [true, false],
  temperature: [5e-324, 1e-30, 0.01, 0.5, 0.7, 1, 2, 100, 1e30, 1e308, 0, new RawNumber("-0")],
  top_k: [0, 1, 2, 5, 50, 681, 682, 856, 857, 861, 862, 1e9, 2 ** 53 - 1],
  top_p: [0, 5e-324, 1e-9, 0.1, 0.5, 0.9, 0.999999, 1, new RawNumber("1.0")],
  num_beams: [1, 2, 3, 4, 8, 16],
  num_return_sequences: [1, 2, 3, 4, 8, 16],
  length_penalty: [0, -1, 0.5, 1, 2, 1e308, -1e308, 5e-324],
  early_stopping: [true, false, "never"],
  repetition_penalty: [5e-324, 1e-30, 0.5, 1, 1.2, 2, 1e30, 1e308],
  no_repeat_ngram_size: [0, 1, 2, 3, 4, 20, 128, 8192],
  eos_token_id: [0, 1, 2, 3, 681, 856, 860, [], [0], [1, 2], [856, 856], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]],
  pad_token_id: [0, 1, 2, 681, 856, 860],
  bos_token_id: [0, 1, 2, 681, 856, 860],
  output_scores: [true, false],
  seed: [0, 1, 7, -1, 2 ** 31, 2 ** 32, 2 ** 53 - 1, -(2 ** 53 - 1), new RawNumber("-0")],
  return_full_text: [true, false],
  clean_up_tokenization_spaces: [true, false],
};
const GEN_INVALID: Record<string, readonly unknown[]> = {
  max_new_tokens: [0, -1, 1024, 1025, 128, 512, 2 ** 31, 2 ** 53, 1.5, new RawNumber("1e999"), "5"],
  max_length: [0, -1, 129, 512, 8192, 8193, 2 ** 53, 0.5, "8"],
  min_new_tokens: [-1, 1025, 2 ** 53, 0.5],
  min_length: [-1, 8193, 1e15, 1.5],
  do_sample: ["true", 1, 0, null, "yes"],
  temperature: [-1, -5e-324, new RawNumber("1e999"), new RawNumber("-1e999"), "NaN", "Infinity", "-Infinity", "0.7", null, true],
  top_k: [-1, 0.5, 2 ** 53, 1e308, "50"],
  top_p: [-0.1, -5e-324, 1.0000001, 2, 1e308, "NaN", new RawNumber("1e999")],
  num_beams: [0, -1, 17, 1e15, 2.5, "4"],
  num_return_sequences: [0, -1, 17, 1e6, 1.5],
  length_penalty: [new RawNumber("1e999"), "NaN", "1", null],
  early_stopping: ["always", "NEVER", "", "false", 0, 1, null, ["never"]],
  repetition_penalty: [0, new RawNumber("-0"), -1, -5e-324, new RawNumber("1e999"), "1"],
  no_repeat_ngram_size: [-1, 8193, 2 ** 53, 0.5],
  eos_token_id: [-1, 682, 857, 861, 862, 2 ** 31, 2 ** 53, 1e308, 0.5, "1", null, [-1], [857], [1, 1e15], [[1]], ["1"], Array.from({ length: 17 }, (_, i) => i), Array.from({ length: 100_000 }, () => 1)],
  pad_token_id: [-1, 682, 857, 861, 2 ** 31, 2 ** 53, 0.5, [0], "0", null],
  bos_token_id: [-1, 682, 857, 861, 2 ** 31, 2 ** 53, 0.5, [0], "0", null],
  output_scores: ["true", 1, null],
  seed: [2 ** 53, -(2 ** 53), 1e308, 1.5, -0.5, "7", new RawNumber("1e999"), new RawNumber("123456789012345678901234567890"), null],
  return_full_text: ["false", 0, null],
  clean_up_tokenization_spaces: ["true", 1, null],
};
export const GENERATION_KEYS = Object.keys(GEN_VALID);

/** One option's value: mostly a valid boundary, sometimes one just past a bound, now and then anything. */
const genValue = (key: string) =>
  fc.oneof({ weight: 10, arbitrary: fc.constantFrom(...GEN_VALID[key]) }, { weight: 2, arbitrary: fc.constantFrom(...GEN_INVALID[key]) }, { weight: 1, arbitrary: hostileScalar });

/**
 * A coherent decoding strategy, so that many bodies pass validation and reach the decoder: greedy,
 * sampling (several sequences, a seed) or beam search (num_return_sequences ≤ num_beams). Lengths
 * stay short on average: the suite runs in CI.
 */
type Entries = [string, unknown][];
const strategy: fc.Arbitrary<Entries> = fc.oneof(
  fc.constant<Entries>([]),
  fc.tuple(fc.integer({ min: 1, max: 4 }), maybe(fc.constantFrom(...GEN_VALID.seed), 2, 1), maybe(fc.constantFrom(0.3, 1, 3), 1, 1))
    .map(([n, seed, t]): Entries => [["do_sample", true], ["num_return_sequences", n], ["seed", seed], ["temperature", t]]),
  fc.tuple(fc.integer({ min: 1, max: 16 }), fc.nat(), fc.constantFrom<unknown>(true, false, "never"))
    .map(([b, r, es]): Entries => [["num_beams", b], ["num_return_sequences", 1 + (r % b)], ["early_stopping", es]]),
);
/** Short runs mostly: `max_new_tokens` absent means 20. */
const length = fc.oneof(
  { weight: 3, arbitrary: fc.constant<Entries>([]) },
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 8 }).map((n): Entries => [["max_new_tokens", n]]) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 30 }).map((n): Entries => [["max_length", n]]) },
);

/** Generation options: a strategy and a length, overlaid by a few options at and beyond their bounds, now and then an odd key. */
const generationOptions = (present: number, absent: number): fc.Arbitrary<Record<string, unknown>> =>
  withOddKey(
    fc.tuple(strategy, length, fc.tuple(...GENERATION_KEYS.map((k) => maybe(genValue(k), present, absent)))).map(([s, l, values]) => {
      const entries = new Map<string, unknown>([...s, ...l]);
      GENERATION_KEYS.forEach((k, i) => values[i] !== undefined && entries.set(k, values[i]));
      return obj([...entries]);
    }),
  );

/** model_kwargs for generation: the same options (task_kwargs wins), or the encoder tasks' keys (refused for generation). */
const generationModelKwargs = fc.oneof(
  { weight: 3, arbitrary: generationOptions(1, 12) },
  { weight: 1, arbitrary: modelKwargs },
  { weight: 1, arbitrary: hostileValue },
);

const generationInput: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 12, arbitrary: fc.array(text, { minLength: 1, maxLength: 3 }) },
  { weight: 1, arbitrary: fc.array(fc.constantFrom("", " ", "\u0000", "\uD800", "</s>", "<s>", "<pad>", "<|endoftext|>", "\u200B"), { minLength: 1, maxLength: 3 }) },
  { weight: 1, arbitrary: fc.tuple(longText).map(([t]) => [t]) },
  { weight: 1, arbitrary: fc.array(pairOf(text, text), { minLength: 1, maxLength: 2 }) },
  { weight: 1, arbitrary: badInput },
);

/** A generation body: hostile prompts, every option at and beyond its bounds, add-ons that generation must refuse. */
export const generationBody: fc.Arbitrary<unknown> = withOddKey(
  fc.record({
    input: generationInput,
    task_kwargs: fc.oneof({ weight: 20, arbitrary: generationOptions(1, 10) }, { weight: 1, arbitrary: hostileValue }),
    model_kwargs: maybe(generationModelKwargs, 1, 5),
    preprocessing_kwargs: maybe(preprocessingKwargs, 1, 4),
    explain_kwargs: maybe(explainKwargs, 1, 25),
    attack_kwargs: maybe(attackKwargs, 1, 25),
    adapter_name: maybe(adapterName, 1, 30),
    is_preprocessed: maybe(fc.constantFrom<unknown>(false, true, "true", 0, null), 1, 25),
  }).map((r) => obj(Object.entries(r))),
);

/** `is_preprocessed` generation: token arrays (in and out of vocabulary) with short generation options. */
export const preprocessedGenerationBody: fc.Arbitrary<unknown> = withOddKey(
  fc.record({
    input: fc.oneof({ weight: 8, arbitrary: withOddKey(preprocessedInput) }, { weight: 1, arbitrary: badInput }),
    is_preprocessed: fc.oneof({ weight: 10, arbitrary: fc.constant<unknown>(true) }, { weight: 1, arbitrary: hostileScalar }),
    task_kwargs: maybe(generationOptions(1, 20), 3, 1),
    preprocessing_kwargs: maybe(preprocessingKwargs, 1, 8),
  }).map((r) => obj(Object.entries(r))),
);

/**
 * POST /{model}/generation or /{model}/generation/stream: mostly the given generative models,
 * sometimes any model (a text model answers 422 naming `task`); some streams are abandoned by
 * the client after a few bytes.
 */
export function generationCase(models: readonly string[], body: fc.Arbitrary<unknown> = generationBody): fc.Arbitrary<FuzzCase> {
  return fc.record({
    model: fc.oneof({ weight: 30, arbitrary: fc.constantFrom(...models) }, { weight: 1, arbitrary: fc.constantFrom(...MODELS) }),
    stream: fc.boolean(),
    abortAfter: maybe(fc.constantFrom(1, 20, 60, 200), 1, 12),
    body,
  }).map(({ model, stream, abortAfter, body: b }): FuzzCase => ({
    method: "POST",
    path: `/${model}/generation${stream ? "/stream" : ""}`,
    body: b,
    task: "generation",
    ...(stream ? { stream, ...(abortAfter !== undefined ? { abortAfter } : {}) } : {}),
  }));
}

/** A probe request and hostile requests sent at the same time (their rows share batches: continuous batching). */
export interface ConcurrentCase {
  probe: FuzzCase;
  /** The probe again, alongside `others`: by the async or the stream route. */
  again: FuzzCase;
  others: FuzzCase[];
}

/** A deterministic, valid request: greedy, seeded sampling or beam search, a few short prompts, few new tokens. */
const probeBody = fc.record({
  input: fc.array(fc.tuple(fc.array(fc.constantFrom(...WORDS), { minLength: 1, maxLength: 6 }), maybe(piece, 1, 3)).map(([ws, p]) => [...ws, ...(p ? [p] : [])].join(" ")), { minLength: 1, maxLength: 3 }),
  strategy: fc.oneof(
    fc.constant<Entries>([]),
    fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 0, max: 2 ** 31 }), fc.constantFrom(0.5, 1, 2), fc.constantFrom(0, 5, 50), fc.constantFrom(0.8, 1))
      .map(([n, seed, t, k, p]): Entries => [["do_sample", true], ["num_return_sequences", n], ["seed", seed], ["temperature", t], ["top_k", k], ["top_p", p]]),
    fc.tuple(fc.integer({ min: 2, max: 6 }), fc.nat(), fc.constantFrom<unknown>(true, false, "never"), fc.constantFrom(0.5, 1, 2))
      .map(([b, r, es, lp]): Entries => [["num_beams", b], ["num_return_sequences", 1 + (r % b)], ["early_stopping", es], ["length_penalty", lp]]),
  ),
  extra: fc.tuple(maybe(fc.constantFrom(1.2, 2), 1, 3), maybe(fc.constantFrom(2, 3), 1, 3), maybe(fc.constantFrom(1, 3), 1, 3), maybe(fc.boolean(), 1, 3))
    .map(([rp, ngram, minNew, scores]): Entries => [["repetition_penalty", rp], ["no_repeat_ngram_size", ngram], ["min_new_tokens", minNew], ["output_scores", scores]]),
  maxNew: fc.integer({ min: 1, max: 12 }),
}).map(({ input, strategy: st, extra, maxNew }) => obj([["input", input], ["task_kwargs", obj([...st, ...extra, ["max_new_tokens", maxNew]])]]));

export const concurrentCase: fc.Arbitrary<ConcurrentCase> = fc.record({
  model: fc.constantFrom(...GEN_MODELS),
  body: probeBody,
  streamAgain: fc.boolean(),
  others: fc.array(generationCase(GEN_MODELS), { minLength: 1, maxLength: 3 }),
}).map(({ model, body, streamAgain, others }) => {
  const probe: FuzzCase = { method: "POST", path: `/${model}/generation`, body, task: "generation" };
  return { probe, again: streamAgain ? { ...probe, path: `${probe.path}/stream`, stream: true } : probe, others };
});

export const updateCase: fc.Arbitrary<FuzzCase> = fc.record({
  model: fc.constantFrom(...MODELS),
  body: fc.oneof(
    { weight: 8, arbitrary: options({
      batch_size: [0, 1, 2, 32, 1024, 2 ** 31 - 1, 2 ** 31, 1e6, 1e15, 1e308, -1, 0.5],
      max_input: [0, 1, 2, 1024, 2 ** 31 - 1, 2 ** 31, 1e6, 1e15, 1e308, -1, 0.5],
      return_plaintext_arrays: [true, false],
      disable_gpu: [true, false],
    }) },
    { weight: 1, arbitrary: hostileValue },
  ),
}).map(({ model, body }) => ({ method: "POST", path: `/${model}/update`, body }));

// ---- malformed bodies, encodings, odd ids ---------------------------------------------------

const VALID = '{"input":["a fine day"]}';
const deep = (n: number, inInput: boolean) => (inInput ? `{"input":${"[".repeat(n)}${"]".repeat(n)}}` : "[".repeat(n) + "]".repeat(n));
const latin1 = (b: Buffer) => b.toString("latin1");
const rawText = fc.oneof(
  fc.constantFrom(
    "", "{", "}", "null", "[]", "[1,2]", '"input"', "42", "true", '{"input":}', "{'input':['a']}", '{"input":["a"],}', `\uFEFF${VALID}`,
    `${VALID}garbage`, '{"input":["\\ud800"]}', '{"input":["a"],"input":5}', '{"input":["a\\u0000b"]}', '{"__proto__":{"is_preprocessed":true},"input":["a"]}',
    '{"input":["a"],"preprocessing_kwargs":{"max_length":1e999}}', '{"input":["a"],"preprocessing_kwargs":{"stride":-0}}',
  ),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.json({ maxDepth: 3 }),
  fc.tuple(fc.constantFrom(1000, 10_000, 100_000), fc.boolean()).map(([n, inInput]) => deep(n, inInput)),
);

/** Bodies in odd encodings and content types; each sends `raw` bytes (latin1 string) with these headers. */
export const malformedCase: fc.Arbitrary<FuzzCase> = fc.record({
  model: fc.constantFrom(...MODELS),
  route: fc.constantFrom(...TEXT_TASKS, "generation", "generation/stream", "update"),
  text: rawText,
  framing: fc.constantFrom("json", "text/plain", "none", "utf-16", "latin1-charset", "gzip-plain", "gzip-real", "gzip-truncated", "deflate-plain", "deflate-real", "br-plain", "gzip,gzip", "x-unknown", "invalid-utf8", "huge"),
}).map(({ model, route, text: t, framing }): FuzzCase => {
  const json = { "content-type": "application/json" };
  const utf8 = latin1(Buffer.from(t, "utf8"));
  const enc = (e: string, raw: string) => ({ raw, headers: { ...json, "content-encoding": e } });
  const framed: Record<string, Pick<FuzzCase, "raw" | "headers">> = {
    json: { raw: utf8, headers: json },
    "text/plain": { raw: utf8, headers: { "content-type": "text/plain" } },
    none: { raw: utf8, headers: {} },
    "utf-16": { raw: utf8, headers: { "content-type": "application/json; charset=utf-16" } },
    "latin1-charset": { raw: utf8, headers: { "content-type": "application/json; charset=latin1" } },
    "gzip-plain": enc("gzip", utf8),
    "gzip-real": enc("gzip", latin1(gzipSync(Buffer.from(t)))),
    "gzip-truncated": enc("gzip", latin1(gzipSync(Buffer.from(t)).subarray(0, 12))),
    "deflate-plain": enc("deflate", utf8),
    "deflate-real": enc("deflate", latin1(deflateSync(Buffer.from(t)))),
    "br-plain": enc("br", utf8),
    "gzip,gzip": enc("gzip, gzip", latin1(gzipSync(gzipSync(Buffer.from(t))))),
    "x-unknown": enc("x-unknown", utf8),
    "invalid-utf8": { raw: `{"input":["a\xff\xfe\xc0\x80b"]}`, headers: json },
    huge: { raw: `{"input":["${"a".repeat(11 * 1024 * 1024)}"]}`, headers: json },
  };
  return { method: "POST", path: `/${model}/${route}`, ...framed[framing] };
});

const oddModelId = fc.oneof(
  fc.constantFrom(...MODELS),
  fc.constantFrom<string>(...PROTO_KEYS, "..", ".", "%2e%2e", "a%2Fb", "%00", "%ZZ", "%", "x".repeat(129), "x".repeat(5000), "bert-tiny-sst%20", "bert tiny", "ünï", "🙂", "a;b", "a'b"),
  fc.string({ unit: "binary", maxLength: 12 }).map(encodeURIComponent),
);
const query = fc.oneof(
  { weight: 4, arbitrary: fc.constant("") },
  { weight: 1, arbitrary: fc.constantFrom("?hf_username=fuzz", "?hf_username=__proto__", "?hf_username=constructor", "?hf_username=a&hf_username=b", "?hf_username=%ZZ", "?hf_username=", "?hf_username[x]=1", "?__proto__[x]=1", "?constructor[prototype][x]=1") },
);
const taskId = fc.oneof(fc.uuid(), oddModelId, fc.constantFrom("null", "undefined", "1e308", "00000000-0000-4000-8000-000000000000"));
const wait = fc.constantFrom("", "?wait=0", "?wait=0.01", "?wait=-1", "?wait=NaN", "?wait=1e308", "?wait=abc", "?wait=0.1&wait=0.2", "?wait[__proto__]=1", "?wait=Infinity");

/** `POST …?wait=S` (beyond SQuARE): in range, past it, malformed, repeated, mixed with other parameters. */
const postWait = fc.constantFrom("?wait=0.001", "?wait=5", "?wait=60", "?wait=61", "?wait=-1", "?wait=abc", "?wait=1e308", "?wait=0.1&wait=0.2", "?wait[x]=1", "?hf_username=fuzz&wait=1");

/** GETs with odd task ids, odd model ids and queries; and task POSTs to odd model ids, some waiting for their result. */
export const idCase: fc.Arbitrary<FuzzCase> = fc.oneof(
  fc.tuple(taskId, wait).map(([id, w]): FuzzCase => ({ method: "GET", path: `/task_result/${id}${w}` })),
  fc.tuple(oddModelId, fc.constantFrom("stats", "health/heartbeat"), query).map(([id, r, q]): FuzzCase => ({ method: "GET", path: `/${id}/${r}${q}` })),
  fc.tuple(oddModelId, oddModelId, fc.constantFrom("stats", "health/heartbeat")).map(([u, id, r]): FuzzCase => ({ method: "GET", path: `/${u}/${id}/${r}` })),
  fc.constantFrom<FuzzCase>(...["/health/heartbeat", "/models", "/openapi.json", "/docs", "/metrics", "/", "/__proto__", "/constructor/constructor/constructor/stats"].map((path) => ({ method: "GET" as const, path }))),
  fc.tuple(oddModelId, fc.constantFrom(...TEXT_TASKS, "generation", "generation/stream"), fc.oneof(query, postWait)).map(([id, t, q]): FuzzCase => {
    const stream = t === "generation/stream";
    const body = t.startsWith("generation") ? { input: ["a fine day"], task_kwargs: { max_new_tokens: 3 } } : { input: ["a fine day"] };
    return { method: "POST", path: `/${id}/${t}${q}`, body, task: stream ? "generation" : (t as Task), stream };
  }),
);

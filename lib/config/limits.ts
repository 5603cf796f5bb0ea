/**
 * Bounds that protect the service (SPEC §12): how much text one request may carry, and the
 * largest values `update` (or a models file) may set. Checked at the gateway before anything is
 * tokenized, so no single request can hold the event loop, the tokenizer threads or memory for
 * long. Each is configuration (lib/config/settings.ts: flag and environment variable).
 *
 * Why these defaults:
 *  - 100,000 characters per item: a long QA context (a report or a book chapter, ~15,000 words,
 *    ~25,000 tokens, ~100 windows) fits; classification truncates to the model's length anyway.
 *    A single 100,000-character "word" costs byte-level BPE ~0.4 s of one tokenizer thread and
 *    ~50 MB (measured, tools/bench/largest-request.ts); ten times that length costs ~7 s and ~0.5 GB.
 *  - 1,024 items per request: the default `max_input`.
 *  - 1,000,000 characters per request: ten maximal items, or 1,024 items of ~1,000 characters.
 *    Sent by Python's `json.dumps` (ASCII-escaped, 6 bytes per non-ASCII character) this is at
 *    most ~6 MB: the default body limit, 7 MiB, admits it with room for options and whitespace,
 *    and no more (JSON.parse of a body runs on the event loop: ~4 ms per MB of text, several
 *    times that for arrays of numbers).
 *  - 131,072 token positions per preprocessed request (rows × row length, padding included):
 *    1,024 rows of 128 tokens or 256 rows of 512, ~0.9 MB of JSON. Arrays of numbers cost far
 *    more than text on the event loop (parsing, checks, copies, garbage collection): measured
 *    event-loop p99 under back-to-back requests of 1,024 rows was ~55 ms at 131,072 positions
 *    and ~110 ms at 262,144 (tools/bench/largest-request.ts). Raise it for clients that send
 *    long preprocessed batches.
 *  - batch_size ≤ 1,024: a batch is one ONNX Runtime run; larger ones only add latency and memory.
 */
export interface RequestLimits {
  /** Characters (JavaScript string length) per item; a pair counts both texts. */
  maxItemChars: number;
  /** Items per request, whatever the model's `max_input` says. */
  maxRequestItems: number;
  /** Characters per request, all items together. */
  maxRequestChars: number;
  /** `is_preprocessed` input: token positions (the length of every input_ids row, summed). */
  maxRequestTokens: number;
}

/** The largest values a models file or `POST /{model}/update` may set. */
export interface UpdateBounds {
  maxBatchSize: number;
  maxInput: number;
}

export const DEFAULT_LIMITS: Readonly<RequestLimits> = Object.freeze({
  maxItemChars: 100_000,
  maxRequestItems: 1024,
  maxRequestChars: 1_000_000,
  maxRequestTokens: 131_072,
});

export const DEFAULT_MAX_BATCH_SIZE = 1024;

export const DEFAULT_UPDATE_BOUNDS: Readonly<UpdateBounds> = Object.freeze({
  maxBatchSize: DEFAULT_MAX_BATCH_SIZE,
  maxInput: DEFAULT_LIMITS.maxRequestItems,
});

/** Bytes per character of JSON in the worst common case: a `\uXXXX` escape (Python's default ensure_ascii). */
export const JSON_BYTES_PER_CHAR = 6;

/** `10mb`, `512kb`, `1048576` (the forms body-parser accepts) → bytes; undefined when unreadable. */
export function parseByteSize(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?\s*$/i.exec(text);
  if (!m) return undefined;
  const unit = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 }[(m[2] ?? "b").toLowerCase() as "b"];
  return Math.floor(Number(m[1]) * unit);
}

/** Settings that contradict each other: requests within the character limits that the body limit would refuse. */
export function limitWarnings(bodyLimit: string, limits: RequestLimits): string[] {
  const bytes = parseByteSize(bodyLimit);
  const needed = limits.maxRequestChars * JSON_BYTES_PER_CHAR;
  if (bytes === undefined || bytes >= needed) return [];
  return [`--body-limit ${bodyLimit} is below ${limits.maxRequestChars} characters × ${JSON_BYTES_PER_CHAR} bytes (ASCII-escaped JSON): some requests within --max-request-chars will be refused with 413`];
}

export const requestLimitsOf = (s: RequestLimits): RequestLimits => ({
  maxItemChars: s.maxItemChars,
  maxRequestItems: s.maxRequestItems,
  maxRequestChars: s.maxRequestChars,
  maxRequestTokens: s.maxRequestTokens,
});

/** `max_input` may not exceed the items a request may carry. */
export const updateBoundsOf = (s: { maxBatchSize: number; maxRequestItems: number }): UpdateBounds => ({ maxBatchSize: s.maxBatchSize, maxInput: s.maxRequestItems });

/**
 * Bounds that protect the service (SPEC §12) as configuration, and the error taxonomy's mapping of
 * transport-level failures: flags and variables, update and models-file bounds, stored updates
 * read back, and the error body of each body-parser and zlib failure.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { resolveSettings, DEFAULT_SETTINGS } from "../../lib/config/settings.ts";
import { DEFAULT_LIMITS, parseByteSize, limitWarnings, requestLimitsOf, updateBoundsOf } from "../../lib/config/limits.ts";
import { parseModelUpdate, storedModelUpdate } from "../../lib/config/model-settings.ts";
import { parseModelsFile } from "../../lib/config/models-file.ts";
import { toErrorBody } from "../../lib/errors.ts";
import { storeCall, STORE_UNAVAILABLE } from "../../lib/store/store-call.ts";
import { itemCountProblems, textSizeProblems, preprocessedSizeProblems } from "../../lib/validation/input-shape.ts";

test("limits: defaults, flags and environment variables", () => {
  assert.deepEqual(requestLimitsOf(DEFAULT_SETTINGS), { maxItemChars: 100_000, maxRequestItems: 1024, maxRequestChars: 1_000_000, maxRequestTokens: 131_072 });
  assert.equal(DEFAULT_SETTINGS.maxBatchSize, 1024);
  const s = resolveSettings(["--max-item-chars", "500", "--max-request-items=8", "--max-batch-size", "64"], { SQUARE_MAX_REQUEST_CHARS: "2000", SQUARE_MAX_REQUEST_TOKENS: "4096", SQUARE_MAX_ITEM_CHARS: "9" });
  assert.deepEqual(requestLimitsOf(s), { maxItemChars: 500, maxRequestItems: 8, maxRequestChars: 2000, maxRequestTokens: 4096 });
  assert.deepEqual(updateBoundsOf(s), { maxBatchSize: 64, maxInput: 8 });
  for (const [flag, value] of [["--max-item-chars", "0"], ["--max-request-items", "1.5"], ["--max-request-chars", "lots"], ["--max-request-tokens", "-1"], ["--max-batch-size", "1e308"]]) {
    assert.throws(() => resolveSettings([flag, value], {}), new RegExp(`${flag} must be a positive integer, got "${value}"`));
  }
  assert.throws(() => resolveSettings(["--body-limit", "ten megs"], {}), /--body-limit must be a size like 10mb/);
});

test("body limit: sizes read as body-parser reads them; a limit below the character bound is reported", () => {
  const table: [string, number | undefined][] = [["10mb", 10 * 1024 ** 2], ["512kb", 512 * 1024], ["1048576", 1048576], ["1.5MB", 1.5 * 1024 ** 2], ["1gb", 1024 ** 3], ["ten", undefined], ["-1mb", undefined]];
  for (const [text, bytes] of table) assert.equal(parseByteSize(text), bytes, text);
  assert.equal(DEFAULT_SETTINGS.bodyLimit, "7mb");
  assert.deepEqual(limitWarnings(DEFAULT_SETTINGS.bodyLimit, DEFAULT_LIMITS), [], "1,000,000 characters × 6 bytes fit in the default body limit");
  const [warning] = limitWarnings("1mb", DEFAULT_LIMITS);
  assert.match(warning, /--body-limit 1mb is below 1000000 characters × 6 bytes/);
});

test("update bounds: batch_size and max_input are integers from 1 to the configured maxima", () => {
  const bounds = { maxBatchSize: 64, maxInput: 100 };
  assert.deepEqual(parseModelUpdate({ batch_size: 64, max_input: 100, disable_gpu: true }, bounds), { batch_size: 64, max_input: 100, disable_gpu: true });
  const refused: [Record<string, unknown>, string, RegExp][] = [
    [{ batch_size: 1e308 }, "batch_size", /≤ 64 \(the server's limit, --max-batch-size\)/],
    [{ batch_size: 65 }, "batch_size", /≤ 64/],
    [{ batch_size: 0 }, "batch_size", /≥ 1/],
    [{ batch_size: 2.5 }, "batch_size", /integer/],
    [{ max_input: 1e12 }, "max_input", /≤ 100 \(the server's limit, --max-request-items\)/],
    [{ max_input: "7" }, "max_input", /integer/],
    [JSON.parse('{"__proto__": {"batch_size": 1}}'), "__proto__", /unknown field/],
    [{ constructor: 1 }, "constructor", /unknown field/],
    [{ toString: true }, "toString", /unknown field/],
  ];
  for (const [body, field, message] of refused) {
    assert.throws(() => parseModelUpdate(body, bounds), (err: any) => err.data?.[0]?.field === field && message.test(err.data[0].message), `${JSON.stringify(body)}`);
  }
  const parsed = parseModelUpdate(JSON.parse('{"batch_size": 2}'), bounds);
  assert.equal(Object.getPrototypeOf(parsed), Object.prototype);
});

test("stored updates read back: fields outside the bounds are dropped and reported, the rest apply", () => {
  const warnings: string[] = [];
  const update = storedModelUpdate({ batch_size: 1e308, max_input: 8, return_plaintext_arrays: true, bogus: 1 }, { maxBatchSize: 1024, maxInput: 1024 }, (m) => warnings.push(m), "sst");
  assert.deepEqual(update, { max_input: 8, return_plaintext_arrays: true });
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /model sst: ignoring stored update fields \(keeping this node's settings\): batch_size 1e\+308: must be an integer ≥ 1 and ≤ 1024.*bogus 1: unknown field/);
  assert.deepEqual(storedModelUpdate(null, { maxBatchSize: 1, maxInput: 1 }, () => assert.fail("nothing to report"), "x"), {});
});

test("models file: sizes and counts are range-checked at start", () => {
  const file = (options: Record<string, unknown>) => JSON.stringify({ models: [{ id: "m", path: "m", ...options }] });
  assert.equal(parseModelsFile(file({ batch_size: 64 }), "/", "f", { maxBatchSize: 64, maxInput: 8 })[0].batch_size, 64);
  const refused: [Record<string, unknown>, RegExp][] = [
    [{ batch_size: 65 }, /"batch_size" must be an integer from 1 to 64, got 65/],
    [{ max_input: 9 }, /"max_input" must be an integer from 1 to 8, got 9/],
    [{ workers: 0 }, /"workers" must be an integer from 1 to 256, got 0/],
    [{ batch_wait_ms: -1 }, /"batch_wait_ms" must be an integer from 0/],
    [{ max_queue: 1.5 }, /"max_queue" must be an integer/],
  ];
  for (const [options, message] of refused) assert.throws(() => parseModelsFile(file(options), "/", "f", { maxBatchSize: 64, maxInput: 8 }), message, JSON.stringify(options));
});

test("request size checks: items, characters per item and request, preprocessed positions", () => {
  const limits = { maxItemChars: 10, maxRequestItems: 4, maxRequestChars: 25, maxRequestTokens: 12 };
  assert.deepEqual(itemCountProblems(5, 1024, limits), [{ field: "input", message: "has 5 items; the server accepts at most 4 per request (max_request_items)" }]);
  assert.deepEqual(itemCountProblems(3, 2, limits), [{ field: "input", message: "has 3 items; this model accepts at most 2 per request (max_input)" }]);
  assert.deepEqual(itemCountProblems(4, 1024, limits), []);
  const fields = (problems: { field: string }[]) => problems.map((p) => p.field);
  assert.deepEqual(fields(textSizeProblems(["x".repeat(10), "y".repeat(11), ["abcdef", "ghijk"]], limits)), ["input.1", "input.2", "input"]);
  assert.match(textSizeProblems([["abcdef", "ghijk"]], limits)[0].message, /has 11 characters; the server accepts at most 10 per item \(both texts of a pair together\) \(max_item_chars\)/);
  assert.match(textSizeProblems(["a".repeat(9), "b".repeat(9), "c".repeat(9)], limits)[0].message, /has 27 characters in all; the server accepts at most 25 per request \(max_request_chars\)/);
  const many = Array.from({ length: 14 }, () => "z".repeat(11));
  const listed = textSizeProblems(many, { ...limits, maxRequestChars: 1000 });
  assert.equal(listed.length, 11, "ten items named, the rest summarised");
  assert.match(listed[10].message, /^4 more items are longer than 10 characters/);
  const rows = (n: number, len: number) => Array.from({ length: n }, () => new Array(len).fill(1));
  assert.deepEqual(preprocessedSizeProblems({ input_ids: rows(3, 4), attention_mask: rows(3, 4) }, limits), []);
  assert.deepEqual(fields(preprocessedSizeProblems({ input_ids: rows(2, 7), attention_mask: rows(2, 7) }, limits)), ["input.input_ids", "input.attention_mask"]);
  assert.deepEqual(preprocessedSizeProblems("not an object", limits), [], "shapes are named by the shape check");
});

test("error bodies: body-parser and zlib failures are 4xx with their own types; prototype-named types are not types", () => {
  // How moleculer-web hands body-parser's errors on: MoleculerError(message, code || status, type).
  const table: [Record<string, unknown>, number, string, RegExp][] = [
    [{ message: "incorrect header check", code: "Z_DATA_ERROR" }, 400, "bad_request", /could not be decompressed.*incorrect header check/],
    [{ message: "unexpected end of file", code: "Z_BUF_ERROR" }, 400, "bad_request", /could not be decompressed/],
    [{ message: 'unsupported content encoding "br"', code: 415, type: "encoding.unsupported" }, 415, "unsupported_media_type", /unsupported content encoding "br"; send the body uncompressed/],
    [{ message: 'unsupported charset "FOO"', code: 415, type: "charset.unsupported" }, 415, "unsupported_media_type", /unsupported charset "FOO"/],
    [{ message: "Unexpected token", code: 400, type: "entity.parse.failed" }, 422, "invalid_request", /not valid JSON/],
    [{ message: "request entity too large", code: 413, type: "entity.too.large" }, 413, "payload_too_large", /larger than the server's limit/],
    [{ message: "request aborted", code: 400, type: "request.aborted" }, 400, "bad_request", /closed the connection/],
    [{ message: "Method Not Allowed", code: 405 }, 405, "bad_request", /Method Not Allowed/],
    [{ message: "at /secret/path.ts", type: "constructor" }, 500, "internal", /^internal error$/],
    [{ message: "at /secret/path.ts", type: "toString", code: 503 }, 503, "unavailable", /^internal error$/],
    [{ name: "ServiceNotFoundError", message: "Service 'x' is not found on 'node-7'" }, 503, "unavailable", /is not running; retry later/],
  ];
  for (const [err, status, type, message] of table) {
    const { status: s, body } = toErrorBody(err);
    const e = body.error as { type: string; message: string };
    assert.deepEqual([s, e.type], [status, type], JSON.stringify(err));
    assert.match(e.message, message, JSON.stringify(err));
  }
});

test("store calls: a failing store is a fixed 503 keeping the cause for the log; an error already classified passes unchanged", async () => {
  const redisError = new Error("Stream isn't writeable and enableOfflineQueue options is false");
  const down = await storeCall(() => Promise.reject(redisError)).catch((e) => e);
  assert.deepEqual([down.type, down.code, down.message, down.cause], ["unavailable", 503, STORE_UNAVAILABLE, redisError]);
  const ours = await storeCall(() => Promise.reject(down)).catch((e) => e);
  assert.equal(ours, down, "an error already classified passes unchanged");
  assert.equal(await storeCall(() => Promise.resolve(7)), 7);
});

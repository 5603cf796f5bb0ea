/**
 * Request bounds (SPEC §12) over HTTP: characters per item and per request, items per request,
 * preprocessed token positions; each a 422 naming the field and the limit, checked before
 * anything is tokenized. One server with small limits set by flags (cheap to exceed), one with
 * the defaults (the largest requests they allow are accepted and finish).
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startNode, RunningNode } from "../../lib/node.ts";
import { resolveSettings } from "../../lib/config/settings.ts";
import { writeModelsFile } from "../helpers/fixtures.ts";
import { httpClient, runTask, Client } from "../helpers/http.ts";

const MODELS = [
  { id: "sst", path: "bert-tiny-sst", return_plaintext_arrays: true },
  { id: "roberta-sst", path: "roberta-tiny-sst", return_plaintext_arrays: true },
  { id: "ner", path: "bert-tiny-ner", return_plaintext_arrays: true },
  { id: "qa", path: "bert-tiny-qa", return_plaintext_arrays: true },
  { id: "base", path: "bert-tiny-base", return_plaintext_arrays: true },
];

async function serve(flags: string[]): Promise<{ node: RunningNode; api: Client }> {
  const file = await writeModelsFile(MODELS);
  const node = await startNode(resolveSettings(["--port", "0", "--models", file, "--log-level", "warn", ...flags], {}));
  return { node, api: httpClient(`http://127.0.0.1:${node.port}/api/main`) };
}

let small: { node: RunningNode; api: Client };
let defaults: { node: RunningNode; api: Client };

before(async () => {
  small = await serve(["--max-item-chars", "50", "--max-request-items", "4", "--max-request-chars", "120", "--max-request-tokens", "40"]);
  defaults = await serve([]);
});
after(async () => {
  await small?.node.stop();
  await defaults?.node.stop();
});

const x = (n: number, c = "x") => c.repeat(n);
const rows = (n: number, len: number, value = 5) => Array.from({ length: n }, () => new Array(len).fill(value));

async function expect422(api: Client, path: string, body: unknown, field: string, message: RegExp) {
  const r = await api.post(path, body);
  assert.equal(r.status, 422, `${path} ${field}: ${JSON.stringify(r.body).slice(0, 400)}`);
  assert.equal(r.body.error.type, "invalid_request");
  const detail = r.body.error.details.find((d: { field: string }) => d.field === field);
  assert.ok(detail, `details name ${field}: ${JSON.stringify(r.body.error.details)}`);
  assert.match(detail.message, message);
}

test("configured limits: each bound is a 422 naming the field and the limit", async () => {
  const table: [path: string, body: Record<string, unknown>, field: string, message: RegExp][] = [
    ["/sst/sequence-classification", { input: ["a", "b", "c", "d", "e"] }, "input", /has 5 items; the server accepts at most 4 per request \(max_request_items\)/],
    ["/sst/sequence-classification", { input: [x(51)] }, "input.0", /has 51 characters; the server accepts at most 50 per item \(max_item_chars\)/],
    ["/sst/sequence-classification", { input: ["ok", "fine", x(60)] }, "input.2", /has 60 characters; the server accepts at most 50 per item/],
    ["/sst/sequence-classification", { input: [[x(30), x(21)]] }, "input.0", /has 51 characters; .*\(both texts of a pair together\)/],
    ["/sst/sequence-classification", { input: [x(45), x(45), x(45)] }, "input", /has 135 characters in all; the server accepts at most 120 per request \(max_request_chars\)/],
    ["/ner/token-classification", { input: [x(51)] }, "input.0", /max_item_chars/],
    ["/qa/question-answering", { input: [["who?", x(47)]] }, "input.0", /has 51 characters/],
    ["/base/embedding", { input: [x(40), x(40), x(41)] }, "input", /has 121 characters in all/],
    ["/sst/sequence-classification", { input: new Array(5).fill(42) }, "input", /has 5 items; the server accepts at most 4/],
    ["/sst/sequence-classification", { is_preprocessed: true, input: { input_ids: rows(5, 8), attention_mask: rows(5, 8, 1) } }, "input", /has 5 items; the server accepts at most 4/],
    ["/sst/sequence-classification", { is_preprocessed: true, input: { input_ids: rows(3, 14), attention_mask: rows(3, 14, 1) } }, "input.input_ids", /has 42 token positions \(rows × length, padding included\); the server accepts at most 40 per request \(max_request_tokens\)/],
    ["/base/embedding", { is_preprocessed: true, input: { input_ids: rows(1, 10), attention_mask: rows(1, 41, 0) } }, "input.attention_mask", /has 41 token positions/],
  ];
  for (const [path, body, field, message] of table) await expect422(small.api, path, body, field, message);
});

test("configured limits: requests exactly at every bound are accepted and finish", async () => {
  const atLimit = [x(25, "ab"), x(15, "b "), x(15, "c "), x(10, "z")]; // 50 + 30 + 30 + 10 = 120 characters, 4 items
  assert.equal(atLimit.join("").length, 120);
  const sst = await runTask(small.api, "/sst/sequence-classification", { input: atLimit });
  assert.equal(sst.labels.length, 4);
  const qa = await runTask(small.api, "/qa/question-answering", { input: [["who?", x(46, "y")]] });
  assert.equal(qa.answers.length, 1);
  const pre = await runTask(small.api, "/sst/sequence-classification", { is_preprocessed: true, input: { input_ids: [[2, 5, 6, 3], ...rows(3, 12)], attention_mask: [[1, 1, 1, 1], ...rows(3, 12, 1)] } });
  assert.equal(pre.labels.length, 4, "4 + 3 × 12 = 40 positions");
});

test("default limits: 1,025 items, a 100,001-character item and 1,000,001 characters in all are refused", async () => {
  await expect422(defaults.api, "/sst/sequence-classification", { input: new Array(1025).fill("x") }, "input", /has 1025 items; this model accepts at most 1024/);
  await expect422(defaults.api, "/sst/sequence-classification", { input: ["short", x(100_001)] }, "input.1", /has 100001 characters; the server accepts at most 100000 per item/);
  const input = [...new Array(10).fill(x(100_000, "a")), "b"];
  await expect422(defaults.api, "/sst/sequence-classification", { input }, "input", /has 1000001 characters in all; the server accepts at most 1000000 per request/);
});

test("default limits: the largest single word and the largest request, sent ASCII-escaped as Python does, are accepted and finish", async () => {
  // A single 100,000-character word: byte-level BPE merges it as one pre-token.
  const word = await runTask(defaults.api, "/roberta-sst/sequence-classification", { input: [x(100_000, "a")] });
  assert.equal(word.labels.length, 1);
  // 1,000,000 non-ASCII characters as \uXXXX escapes: ~6 MB of JSON, inside the 10 MB body limit.
  const item = x(100_000, "\u4e2d");
  const escaped = JSON.stringify({ input: new Array(10).fill(item) }).replace(/\u4e2d/g, "\\u4e2d");
  assert.ok(escaped.length > 6_000_000);
  const res = await fetch(`${defaults.api.base}/sst/sequence-classification`, { method: "POST", headers: { "content-type": "application/json" }, body: escaped });
  const queued = (await res.json()) as { task_id: string };
  assert.equal(res.status, 200, JSON.stringify(queued));
  const done = await defaults.api.result(queued.task_id, 60_000);
  assert.equal(done.body.status, "Finished", JSON.stringify(done.body).slice(0, 400));
  assert.equal(done.body.result.labels.length, 10);
});

test("a Moleculer client calling a model's actions directly is held to the node's configured limits and bounds", async () => {
  const broker = small.node.broker;
  await assert.rejects(broker.call("model.sst.sequence-classification", { input: [x(51)] }), (err: Error & { code?: number; data?: { field: string }[] }) => {
    assert.equal(err.code, 422);
    assert.deepEqual(err.data?.map((d) => d.field), ["input.0"]);
    return true;
  });
  const ok = (await broker.call("model.sst.sequence-classification", { input: [x(50)] })) as { labels: number[] };
  assert.equal(ok.labels.length, 1);
  await assert.rejects(broker.call("model.sst.apply", { batch_size: 1025 }), (err: Error & { code?: number; data?: { field: string }[] }) => {
    assert.equal(err.code, 422);
    assert.deepEqual(err.data?.map((d) => d.field), ["batch_size"]);
    return true;
  });
});

/**
 * Issue #10 at the gateway: no request may crash a route into a 500 or reach the service's
 * settings unchecked. Over HTTP against an embedded server: compressed and mis-encoded bodies,
 * option keys named like Object.prototype members, `update` bounds, and an invalid update already
 * stored when a replica starts (real Redis on 127.0.0.1:6379, private key prefix).
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { gzipSync, deflateSync } from "node:zlib";
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { startEmbedded, Embedded } from "../helpers/embedded.ts";
import { runTask, httpClient } from "../helpers/http.ts";
import { writeModelsFile } from "../helpers/fixtures.ts";
import { startNode } from "../../lib/node.ts";
import { resolveSettings } from "../../lib/config/settings.ts";

const REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
let s: Embedded;

before(async () => {
  s = await startEmbedded([
    { id: "sst", path: "bert-tiny-sst", batch_size: 8, max_input: 16, return_plaintext_arrays: true },
    { id: "ner", path: "bert-tiny-ner" },
    { id: "qa", path: "bert-tiny-qa" },
    { id: "base", path: "bert-tiny-base" },
  ]);
});
after(() => s?.stop());

/** POSTs raw bytes: JSON text with own `__proto__` keys, or bodies with a Content-Encoding. */
async function rawPost(path: string, body: string | Buffer, headers: Record<string, string> = {}) {
  const res = await fetch(s.base + path, { method: "POST", body: typeof body === "string" ? body : new Uint8Array(body), headers: { "content-type": "application/json", ...headers } });
  return { status: res.status, body: (await res.json()) as any };
}

const detailFields = (body: any): string[] => (body.error.details ?? []).map((d: { field: string }) => d.field);

test("request bodies: corrupt compression is 400, unsupported encodings and charsets 415, each with its own type", async () => {
  const json = JSON.stringify({ input: ["a great movie"] });
  const gzipped = gzipSync(json);
  const table: [name: string, body: string | Buffer, headers: Record<string, string>, status: number, type: string, message: RegExp][] = [
    ["gzip header, plain bytes", json, { "content-encoding": "gzip" }, 400, "bad_request", /could not be decompressed as its Content-Encoding says \(incorrect header check\)/],
    ["deflate header, plain bytes", json, { "content-encoding": "deflate" }, 400, "bad_request", /could not be decompressed/],
    ["truncated gzip", gzipped.subarray(0, gzipped.length - 12), { "content-encoding": "gzip" }, 400, "bad_request", /could not be decompressed as its Content-Encoding says \(unexpected end of file\)/],
    ["brotli", json, { "content-encoding": "br" }, 415, "unsupported_media_type", /unsupported content encoding "br"/],
    ["unknown encoding", json, { "content-encoding": "zstd" }, 415, "unsupported_media_type", /unsupported content encoding "zstd"/],
    ["unknown charset", json, { "content-type": "application/json; charset=klingon" }, 415, "unsupported_media_type", /unsupported charset "KLINGON"/],
    ["malformed JSON", '{"input": [', {}, 422, "invalid_request", /request body is not valid JSON/],
  ];
  for (const path of ["/sst/sequence-classification", "/sst/update"]) {
    for (const [name, body, headers, status, type, message] of table) {
      const r = await rawPost(path, body, headers);
      assert.equal(r.status, status, `${path} ${name}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.type, type, `${path} ${name}`);
      assert.match(r.body.error.message, message, `${path} ${name}`);
    }
  }
  for (const [encoding, body] of [["gzip", gzipped], ["deflate", deflateSync(json)]] as const) {
    const r = await rawPost("/sst/sequence-classification", body, { "content-encoding": encoding });
    assert.equal(r.status, 200, `valid ${encoding}: ${JSON.stringify(r.body)}`);
    assert.equal((await s.result(r.body.task_id)).body.status, "Finished");
  }
});

const PROTOTYPE_KEYS = ["__proto__", "constructor", "toString", "hasOwnProperty", "valueOf", "isPrototypeOf"];

test("option keys named like Object.prototype members are unknown options (422 naming them) on every task", async () => {
  const routes: [path: string, input: unknown][] = [
    ["/sst/sequence-classification", ["a great movie"]],
    ["/ner/token-classification", ["John lives in Paris"]],
    ["/qa/question-answering", [["who?", "John lives in Paris"]]],
    ["/base/embedding", ["hello"]],
  ];
  for (const [path, input] of routes) {
    for (const section of ["task_kwargs", "model_kwargs", "preprocessing_kwargs", "explain_kwargs"]) {
      for (const key of PROTOTYPE_KEYS) {
        // Raw JSON text: JSON.parse makes `__proto__` an own key, as it does for a client's body.
        const r = await rawPost(path, `{"input": ${JSON.stringify(input)}, "${section}": {"${key}": {"polluted": true}}}`);
        const what = `${path} ${section}.${key}`;
        assert.equal(r.status, 422, `${what}: ${JSON.stringify(r.body)}`);
        assert.equal(r.body.error.type, "invalid_request", what);
        const field = section === "explain_kwargs" && !["/sst/sequence-classification", "/qa/question-answering"].includes(path) ? "explain_kwargs" : `${section}.${key}`;
        assert.ok(detailFields(r.body).includes(field), `${what} names ${field}: ${JSON.stringify(r.body.error.details)}`);
      }
    }
  }
});

test("update: prototype-named keys are unknown fields and change nothing", async () => {
  const before = (await s.get("/sst/stats")).body;
  for (const key of PROTOTYPE_KEYS) {
    const r = await rawPost("/sst/update", `{"${key}": {"batch_size": 1000, "return_plaintext_arrays": false}}`);
    assert.equal(r.status, 422, `${key}: ${JSON.stringify(r.body)}`);
    assert.deepEqual(detailFields(r.body), [key]);
    assert.match(r.body.error.details[0].message, /unknown field; updatable fields are batch_size, max_input, return_plaintext_arrays, disable_gpu/);
  }
  const mixed = await rawPost("/sst/update", '{"__proto__": {"max_input": 1}, "batch_size": 4}');
  assert.equal(mixed.status, 422, "one bad key refuses the whole update");
  const after = (await s.get("/sst/stats")).body;
  assert.deepEqual([after.batch_size, after.max_input, after.return_plaintext_arrays], [before.batch_size, before.max_input, before.return_plaintext_arrays]);
  const result = await runTask(s, "/sst/sequence-classification", { input: ["fine"] });
  assert.equal(result.model_output_is_encoded, false, "plain arrays as configured");
});

test("top-level prototype-named keys are dropped; the request runs as the text it is", async () => {
  const r = await rawPost("/sst/sequence-classification", '{"input": ["a great movie"], "__proto__": {"is_preprocessed": true}, "constructor": 1}');
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const done = await s.result(r.body.task_id);
  assert.equal(done.body.status, "Finished", JSON.stringify(done.body));
  assert.equal(done.body.result.model_outputs.logits.length, 1);
});

test("update bounds: batch_size and max_input above the configured maxima are 422 naming field and range", async () => {
  const table: [body: Record<string, unknown>, field: string, message: RegExp][] = [
    [{ batch_size: 1e308 }, "batch_size", /must be an integer ≥ 1 and ≤ 1024 \(the server's limit, --max-batch-size\)/],
    [{ batch_size: 1025 }, "batch_size", /≤ 1024/],
    [{ batch_size: 0 }, "batch_size", /≥ 1/],
    [{ max_input: 1e12 }, "max_input", /must be an integer ≥ 1 and ≤ 1024 \(the server's limit, --max-request-items\)/],
    [{ max_input: 1025 }, "max_input", /≤ 1024/],
    [{ max_input: -3 }, "max_input", /≥ 1/],
  ];
  for (const [body, field, message] of table) {
    const r = await s.post("/sst/update", body);
    assert.equal(r.status, 422, JSON.stringify(r.body));
    assert.deepEqual(detailFields(r.body), [field]);
    assert.match(r.body.error.details[0].message, message);
  }
  const schema = (await s.get("/openapi.json")).body.paths["/api/main/{identifier}/update"].post.requestBody.content["application/json"].schema;
  assert.deepEqual([schema.properties.batch_size.maximum, schema.properties.max_input.maximum], [1024, 1024], "the OpenAPI document states the bounds");
  const top = await s.post("/sst/update", { batch_size: 1024, max_input: 1024 });
  assert.equal(top.status, 200, JSON.stringify(top.body));
  assert.deepEqual([top.body.batch_size, top.body.max_input], [1024, 1024]);
  const restored = await s.post("/sst/update", { batch_size: 8, max_input: 16 });
  assert.deepEqual([restored.body.batch_size, restored.body.max_input], [8, 16]);
  await runTask(s, "/sst/sequence-classification", { input: ["still serving"] });
});

test("a replica that finds an invalid stored update keeps its own settings, applies the valid fields, and serves", async () => {
  const prefix = `square-test:${randomUUID().slice(0, 8)}:`;
  const redis = new Redis(REDIS_URL);
  try {
    // What an unbounded version could store; it used to brick every replica started later.
    await redis.hset(`${prefix}model-update:sst`, { batch_size: "1e308", max_input: "1000000000000", disable_gpu: "not json", return_plaintext_arrays: "true" });
    const file = await writeModelsFile([{ id: "sst", path: "bert-tiny-sst", batch_size: 4, max_input: 8 }]);
    const node = await startNode(resolveSettings(["--port", "0", "--models", file, "--log-level", "error", "--redis", REDIS_URL, "--key-prefix", prefix], {}));
    try {
      const api = httpClient(`http://127.0.0.1:${node.port}/api/main`);
      const stats = (await api.get("/sst/stats")).body;
      assert.deepEqual([stats.batch_size, stats.max_input, stats.return_plaintext_arrays], [4, 8, true]);
      const tooMany = await api.post("/sst/sequence-classification", { input: new Array(9).fill("x") });
      assert.equal(tooMany.status, 422, "the gateway, too, ignores the stored max_input");
      assert.match(tooMany.body.error.message, /has 9 items; this model accepts at most 8/);
      const result = await runTask(api, "/sst/sequence-classification", { input: ["served"] });
      assert.equal(result.model_output_is_encoded, false, "the valid stored field applies");
    } finally {
      await node.stop();
    }
  } finally {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  }
});

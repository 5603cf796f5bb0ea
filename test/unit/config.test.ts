import { test } from "node:test";
import assert from "node:assert/strict";
import { resolveSettings } from "../../lib/config/settings.ts";
import { parseModelsFile } from "../../lib/config/models-file.ts";
import { parseModelUpdate, batchTokenBudget } from "../../lib/config/model-settings.ts";
import { modelIdFromRoute } from "../../lib/request/model-id.ts";
import { parseDevice, parseDeviceList, executionProviders } from "../../lib/onnx/device.ts";
import { toErrorBody, invalid } from "../../lib/errors.ts";

test("settings: flags win over environment, environment over defaults", () => {
  const s = resolveSettings(["--port", "9001", "--roles=gateway,scheduler"], { PORT: "7000", REDIS_URL: "redis://x:1", SQUARE_DEVICES: "cuda:0,cuda:1" });
  assert.equal(s.port, 9001);
  assert.deepEqual(s.roles, ["gateway", "scheduler"]);
  assert.equal(s.redis, "redis://x:1");
  assert.equal(s.devices, "cuda:0,cuda:1");
  assert.equal(s.prefix, "/api/main");
  assert.throws(() => resolveSettings(["--roles", "gateway,cook"], {}), /unknown role "cook"/);
  assert.throws(() => resolveSettings(["--bogus", "1"], {}), /unknown option "--bogus"/);
  assert.throws(() => resolveSettings(["--port"], {}), /--port needs a value/);
});

test("models file: defaults, relative paths, clear errors", () => {
  const [m] = parseModelsFile(JSON.stringify({ models: [{ id: "user/bert", path: "bert", batch_size: 8 }] }), "/srv/models");
  assert.equal(m.path, "/srv/models/bert");
  assert.equal(m.batch_size, 8);
  assert.equal(m.max_input, 1024);
  assert.equal(m.max_batch_tokens, undefined, "unset: chosen per device and kind (batchTokenBudget)");
  assert.equal(batchTokenBudget(m, { cpu: true, generative: false }), 1024);
  assert.equal(batchTokenBudget(m, { cpu: true, generative: true }), 16384);
  assert.equal(batchTokenBudget(m, { cpu: false, generative: false }), 16384);
  const [set] = parseModelsFile(JSON.stringify({ models: [{ id: "a", path: "a", max_batch_tokens: 4096 }] }), "/");
  assert.equal(batchTokenBudget(set, { cpu: true, generative: false }), 4096);
  assert.throws(() => parseModelsFile(JSON.stringify({ models: [{ id: "a", path: "a", max_batch_tokens: 0 }] }), "/"), /"max_batch_tokens" must be an integer from 1/);
  assert.throws(() => parseModelsFile("{", "/"), /not valid JSON/);
  assert.throws(() => parseModelsFile(JSON.stringify({ models: [{ id: "a", path: "a", batchsize: 1 }] }), "/"), /unknown option "batchsize"/);
  assert.throws(() => parseModelsFile(JSON.stringify({ models: [{ id: "a/b/c", path: "a" }] }), "/"), /more than one "\/"/);
  assert.throws(() => parseModelsFile(JSON.stringify({ models: [{ id: "a", path: "a", max_input: "9" }] }), "/"), /"max_input" must be a number/);
});

test("update bodies: only known fields with the right types", () => {
  assert.deepEqual(parseModelUpdate({ batch_size: 4 }), { batch_size: 4 });
  assert.throws(() => parseModelUpdate({ batch_size: 0 }), /batch_size: must be an integer ≥ 1/);
  assert.throws(() => parseModelUpdate({ disable_gpu: "yes" }), /disable_gpu: must be a boolean/);
  assert.throws(() => parseModelUpdate({ model_name: "x" }), /model_name: unknown field/);
});

test("model ids: both route forms, no folding of '/', bad characters refused", () => {
  assert.equal(modelIdFromRoute({ id: "bert" }, {}), "bert");
  assert.equal(modelIdFromRoute({ id: "bert" }, { hf_username: "ukp" }), "ukp/bert");
  assert.equal(modelIdFromRoute({ user: "ukp", id: "bert" }, {}), "ukp/bert");
  assert.throws(() => modelIdFromRoute({ id: "be rt" }, {}), /not a valid model id part/);
  assert.throws(() => modelIdFromRoute({ id: ".." }, {}), /not a valid model id part/);
});

test("devices and execution providers", () => {
  assert.deepEqual(parseDevice("cuda:1"), { kind: "cuda", id: 1 });
  assert.deepEqual(parseDeviceList("cuda:0, cuda:1").map((d) => d.id), [0, 1]);
  assert.throws(() => parseDevice("tpu"), /unknown device/);
  assert.deepEqual(executionProviders({ kind: "cuda", id: 1 }, false), [{ name: "cuda", deviceId: 1 }, "cpu"]);
  assert.deepEqual(executionProviders({ kind: "cuda", id: 1 }, true), ["cpu"]);
});


test("error bodies: status by type, FastAPI detail for 422, internals hidden", () => {
  const v = toErrorBody(invalid("must be a boolean", "task_kwargs.normalize"));
  assert.equal(v.status, 422);
  assert.deepEqual(v.body.detail, [{ loc: ["body", "task_kwargs", "normalize"], msg: "must be a boolean", type: "value_error" }]);
  const tooBig = toErrorBody(Object.assign(new Error("request entity too large"), { type: "entity.too.large", status: 413 }));
  assert.equal(tooBig.status, 413);
  const crash = toErrorBody(new TypeError("cannot read x of undefined at /secret/path.ts:12"));
  assert.equal(crash.status, 500);
  assert.deepEqual(crash.body, { error: { type: "internal", message: "internal error" } });
});

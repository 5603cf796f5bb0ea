/**
 * Model management in one process (issue #15): SQuARE's model-manager routes with the call
 * shapes of its Python client (square_model_client: methods, paths, bodies), the admin role,
 * and deploy bodies that try to leave the models root.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startNode, RunningNode } from "../../lib/node.ts";
import { resolveSettings } from "../../lib/config/settings.ts";
import { authClient, AuthClient } from "../helpers/auth-server.ts";
import { makeModelsRoot, squareDeployBody } from "../helpers/management.ts";
import { decodeNpy } from "../helpers/embedded.ts";

const ADMIN = "admin-key-0123456789abcdef";
const USER = "user-key-0123456789abcdef";
const KEYS = { keys: [{ key: USER, identity: "alice", roles: ["user"] }, { key: ADMIN, identity: "root", roles: ["admin"] }] };

let node: RunningNode;
let mm: AuthClient;
let main: AuthClient;

/** What square_model_client sends: method, path under /api/models, JSON body. */
const square = (method: string, path: string, body?: unknown) => mm.call(method, path, { token: ADMIN, body });

/** square_model_client._wait_for_task: polls /api/main/task_result/{id} until 200. */
async function waitForTask(taskId: string): Promise<{ status: number; body: any }> {
  for (let i = 0; i < 200; i++) {
    const r = await main.call("GET", `/task_result/${taskId}?wait=1`, { token: ADMIN });
    if (r.status !== 202) return r;
  }
  throw new Error(`task ${taskId} never finished`);
}

before(async () => {
  const root = await makeModelsRoot();
  const dir = mkdtempSync(join(tmpdir(), "square-keys-"));
  writeFileSync(join(dir, "keys.json"), JSON.stringify(KEYS));
  node = await startNode(resolveSettings(["--port", "0", "--log-level", "warn", "--models-root", root, "--agent-lease", "1", "--auth", "apikey", "--api-keys", join(dir, "keys.json")], {}));
  mm = authClient(`http://127.0.0.1:${node.port}/api/models`);
  main = authClient(`http://127.0.0.1:${node.port}/api/main`);
});

after(() => node?.stop());

test("the routes need the admin role; the heartbeat is public", async () => {
  assert.equal((await mm.call("GET", "/health/heartbeat")).status, 200);
  assert.equal((await mm.call("GET", "/deployed-models")).status, 401);
  const user = await mm.call("GET", "/deployed-models", { token: USER });
  assert.equal(user.status, 403);
  assert.match(user.body.error.message, /needs the "admin" role/);
  assert.equal((await mm.call("POST", "/deploy", { token: USER, body: squareDeployBody("x", "bert-tiny-sst") })).status, 403);
  assert.equal((await mm.call("PATCH", "/x/add_worker/1", { token: USER, body: "x" })).status, 403);
});

test("square_model_client's calls, replayed: deployed_models, deploy, predict, update, add/remove worker, remove", async () => {
  assert.deepEqual((await square("GET", "/deployed-models")).body, []);

  const deployed = await square("POST", "/deploy", squareDeployBody("sst", "bert-tiny-sst"));
  assert.equal(deployed.status, 202, JSON.stringify(deployed.body));
  assert.equal(deployed.body.message, "Queued deploying sst");
  const done = await waitForTask(deployed.body.task_id);
  assert.equal(done.status, 200, JSON.stringify(done.body));
  assert.equal(done.body.result.success, true);
  assert.equal(done.body.result.replicas, 1);

  const q = await main.call("POST", "/sst/sequence-classification", { token: ADMIN, body: { input: ["a great movie"] } });
  assert.equal(q.status, 200, JSON.stringify(q.body));
  const r = await waitForTask(q.body.task_id);
  assert.deepEqual(decodeNpy(r.body.result.model_outputs.logits).shape, [1, 3]);

  const list = (await square("GET", "/deployed-models")).body;
  assert.deepEqual(list.map((m: Record<string, unknown>) => [m.identifier, m.model_type, m.model_name, m.disable_gpu, m.batch_size, m.max_input, m.model_class, m.return_plaintext_arrays, m.replicas_ready]), [["sst", "transformer", "bert-tiny-sst", true, 32, 1024, "base", false, 1]]);

  // update: PATCH /models/update/{id} with the four fields.
  const updated = await square("PATCH", "/update/sst", { disable_gpu: true, batch_size: 16, max_input: 256, return_plaintext_arrays: true });
  assert.equal(updated.status, 200, JSON.stringify(updated.body));
  assert.deepEqual([updated.body.batch_size, updated.body.max_input, updated.body.return_plaintext_arrays], [16, 256, true]);
  assert.deepEqual(updated.body.replicas_stats.map((s: { batch_size: number }) => s.batch_size), [16]);
  const stats = await main.call("GET", "/sst/stats", { token: ADMIN });
  assert.equal(stats.body.batch_size, 16);

  // add_worker / remove_worker: PATCH with the id as a JSON string body. One node cannot hold two actors of one model.
  const added = await square("PATCH", "/sst/add_worker/1", "sst");
  assert.equal(added.status, 200, JSON.stringify(added.body));
  assert.equal(added.body.replicas, 2);
  let health: { body: any } = { body: {} };
  for (let i = 0; i < 100 && !health.body.unplaced; i++) {
    health = await square("GET", "/sst/health");
    await new Promise((res) => setTimeout(res, 50));
  }
  assert.equal(health.body.replicas_wanted, 2);
  assert.equal(health.body.replicas_ready, 1);
  assert.match(health.body.unplaced, /1 of 2 replicas placed; .*already runs sst/);
  const progress = await square("GET", `/task_result/${added.body.task_id}`);
  assert.equal(progress.status, 202);
  assert.equal(progress.body.progress.replicas_wanted, 2);

  const removedWorker = await square("PATCH", "/sst/remove_worker/1", "sst");
  assert.equal(removedWorker.status, 200, JSON.stringify(removedWorker.body));
  assert.equal((await waitForTask(removedWorker.body.task_id)).body.result.replicas, 1);
  // The add task it replaced ends too (square_model_client waits on it).
  assert.match((await waitForTask(added.body.task_id)).body.result.message, /superseded by scale task/);
  assert.deepEqual((await square("GET", "/deployed-model-workers")).body, [{ identifier: "sst", num_containers: 1 }]);
  assert.deepEqual((await square("GET", "/health")).body, [{ identifier: "sst", is_alive: true }]);
  // The server's own declarations (POST add, DELETE remove) work too.
  assert.equal((await square("DELETE", "/sst/remove_worker/1", "sst")).status, 422);

  const removed = await square("DELETE", "/remove/sst", "sst");
  assert.equal(removed.status, 200, JSON.stringify(removed.body));
  assert.equal((await waitForTask(removed.body.task_id)).body.result.message, "removed sst");
  assert.equal((await main.call("POST", "/sst/sequence-classification", { token: ADMIN, body: { input: ["x"] } })).status, 404);
  assert.deepEqual((await square("GET", "/deployed-models")).body, []);
});

test("deploy refuses what it cannot serve: an existing id 409, bad fields and non-servable folders 422", async () => {
  const first = await square("POST", "/deploy", { identifier: "dup", model_path: "nested/sst" });
  assert.equal(first.status, 202, JSON.stringify(first.body));
  const again = await square("POST", "/deploy", { identifier: "dup", model_path: "nested/sst" });
  assert.equal(again.status, 409);
  assert.match(again.body.error.message, /identifier dup already exists/);
  await waitForTask(first.body.task_id);

  const cases: [Record<string, unknown>, RegExp][] = [
    [{ identifier: "b", model_path: "broken" }, /not a servable model folder: missing tokenizer\.json, an ONNX model/],
    [{ identifier: "b", model_path: "nope" }, /no such folder under the models root/],
    [{ identifier: "b", model_name: "bert-tiny-sst", adapter_id: "x" }, /adapter_id: a deploy takes no adapter: deploy the base model, then give it adapters with POST \/api\/main\/\{model\}\/update/],
    [{ identifier: "b", model_name: "bert-tiny-sst", colour: "red" }, /colour: unknown field/],
    [{ identifier: "b", model_name: "bert-tiny-sst", batch_size: 0 }, /batch_size: must be an integer from 1/],
    [{ model_name: "bert-tiny-sst" }, /identifier: required/],
    [{ identifier: "a/b/c", model_name: "bert-tiny-sst" }, /more than one "\/"/],
  ];
  for (const [body, message] of cases) {
    const r = await square("POST", "/deploy", body);
    assert.equal(r.status, 422, JSON.stringify(body));
    assert.match(r.body.error.message, message, JSON.stringify(r.body));
  }
  assert.equal((await square("POST", "/nobody/add_worker/1")).status, 404);
  assert.equal((await square("POST", "/dup/add_worker/abc")).status, 422);
  assert.equal((await square("POST", "/dup/add_worker/0")).status, 422);
  assert.equal((await square("DELETE", "/remove/nobody")).status, 404);
});

test("path escapes on deploy are 422 and name the problem", async () => {
  const escapes: [string, RegExp][] = [
    ["../etc", /contains "\.\."/],
    ["nested/../../etc", /contains "\.\."/],
    ["/etc", /is absolute/],
    ["\\\\server\\share", /is absolute/],
    ["outside", /resolves outside the models root/],
  ];
  for (const [path, message] of escapes) {
    for (const field of ["model_path", "model_name"]) {
      const r = await square("POST", "/deploy", { identifier: "esc", [field]: path });
      assert.equal(r.status, 422, `${field} ${path}`);
      assert.match(r.body.error.message, message, `${field} ${path}: ${r.body.error.message}`);
    }
  }
  // A symlink that stays inside the root is an ordinary folder.
  const inside = await square("POST", "/deploy", { identifier: "linked", model_path: "inside-link" });
  assert.equal(inside.status, 202, JSON.stringify(inside.body));
  assert.equal((await waitForTask(inside.body.task_id)).status, 200);
  assert.deepEqual((await square("GET", "/explainers")).body.map((e: { identifier: string }) => e.identifier), ["simple_grads", "integrated_grads", "smooth_grads", "attention", "scaled_attention"]);
});

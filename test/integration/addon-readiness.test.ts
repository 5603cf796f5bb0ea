/**
 * Request add-ons' readiness travels in the model's service metadata (lib/addons, SPEC §7): the
 * first explanation request of a model has a replica find out (building the gradient graph) and
 * announce the answer; later requests are checked against the metadata without asking it.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startEmbedded, Embedded } from "../helpers/embedded.ts";
import { modelWithAbs } from "../helpers/ungradable-model.ts";
import { announcedReadiness } from "../../lib/orchestration/addon-readiness.ts";

let s: Embedded;


before(async () => {
  s = await startEmbedded([{ id: "sst", path: "bert-tiny-sst" }, { id: "abs", path: await modelWithAbs() }]);
});
after(() => s?.stop());

const readiness = (model: string) => announcedReadiness(s.node.broker.registry as never, model, "explanations");
const explainBody = { input: ["a great movie"], explain_kwargs: { method: "simple_grads" } };

test("readiness is unknown until a replica has tried, then announced: ready", async () => {
  assert.deepEqual(readiness("sst"), { state: "unknown" });
  const q = await s.post("/sst/sequence-classification", explainBody);
  assert.equal(q.status, 200, JSON.stringify(q.body));
  assert.deepEqual(readiness("sst"), { state: "ready" });
  const r = await s.result(q.body.task_id, 30_000);
  assert.equal(r.body.result.attributions.length, 1);
});

test("a model without gradient rules is announced unavailable with the reason; later requests get the same 422 from the metadata", async () => {
  const first = await s.post("/abs/sequence-classification", explainBody);
  assert.equal(first.status, 422);
  const announced = readiness("abs");
  assert.equal(announced.state, "unavailable");
  assert.match((announced as { reason: string }).reason, /operator Abs .*has no gradient rule/);
  const again = await s.post("/abs/sequence-classification", explainBody);
  assert.equal(again.status, 422);
  assert.deepEqual(again.body, first.body);
  const plain = await s.post("/abs/sequence-classification", { input: ["a great movie"] });
  assert.equal(plain.status, 200, "predictions do not need the add-on");
});

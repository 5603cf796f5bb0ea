/** Placement (lib/management/placement.ts) and an agent's share of it (agent-plan.ts): pure functions, exact answers. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { place } from "../../lib/management/placement.ts";
import { planAgent } from "../../lib/management/agent-plan.ts";
import { parseDeployRequest } from "../../lib/management/deploy-request.ts";
import { DEFAULT_UPDATE_BOUNDS } from "../../lib/config/limits.ts";
import type { AgentReport, Deployment } from "../../lib/store/deployment-store.ts";

const deployment = (id: string, extra: Partial<Deployment> = {}): Deployment => ({ ...parseDeployRequest({ identifier: id, model_path: id }, DEFAULT_UPDATE_BOUNDS, 1), bytes: 100, ...extra });
const agent = (node: string, extra: Partial<AgentReport> = {}): AgentReport => ({ node, devices: ["cpu"], slots: 4, actors: [], declined: {}, at: 0, ...extra });

test("new actors go to the least-loaded nodes, one per node, and existing ones stay", () => {
  const r = place({ deployments: [deployment("a", { replicas: 2 }), deployment("b")], agents: [agent("n1"), agent("n2")], previous: { b: ["n1"] }, queueDepth: {} });
  assert.deepEqual(r.assignments, { a: ["n2", "n1"], b: ["n1"] });
  assert.deepEqual(r.unplaced, {});
  assert.deepEqual(r.decisions.map((d) => d.message), ["placed an actor of a on n2", "placed an actor of a on n1"]);
});

test("a dead node's actors are placed again; more replicas than nodes leaves the rest unplaced with each node's reason", () => {
  const r = place({ deployments: [deployment("a", { replicas: 2 })], agents: [agent("n2")], previous: { a: ["n1", "n2"] }, queueDepth: {} });
  assert.deepEqual(r.assignments, { a: ["n2"] });
  assert.equal(r.unplaced.a, "1 of 2 replicas placed; n2: already runs a");
  assert.deepEqual(r.decisions.map((d) => d.message), ["node n1 is gone; its actor of a is placed again"]);
});

test("slots, memory budgets and declines keep actors off a node", () => {
  const d = deployment("a");
  const agents = [agent("full", { slots: 1 }), agent("small", { memoryBudget: 50 }), agent("refuses", { declined: { [`a#${d.created_at}`]: "no such folder" } })];
  const r = place({ deployments: [deployment("z"), d], agents, previous: { z: ["full"] }, queueDepth: {} });
  assert.deepEqual(r.assignments.a, []);
  assert.equal(r.unplaced.a, "0 of 1 replicas placed; full: no free slot (1 in use); small: memory budget 50 bytes would be exceeded (0 in use, 100 more); refuses: declined (no such folder)");
  assert.equal(place({ deployments: [d], agents: [], previous: {}, queueDepth: {} }).unplaced.a, "0 of 1 replicas placed; no model node is running");
});

test("scaling down stops the newest actor; a model being removed keeps one actor until its queue is empty", () => {
  assert.deepEqual(place({ deployments: [deployment("a", { replicas: 1 })], agents: [agent("n1"), agent("n2")], previous: { a: ["n1", "n2"] }, queueDepth: {} }).assignments, { a: ["n1"] });
  const removing = deployment("a", { state: "removing" });
  assert.deepEqual(place({ deployments: [removing], agents: [agent("n1"), agent("n2")], previous: { a: ["n1", "n2"] }, queueDepth: { a: 3 } }).assignments, { a: ["n1", "n2"] });
  assert.deepEqual(place({ deployments: [removing], agents: [agent("n1")], previous: { a: [] }, queueDepth: { a: 3 } }).assignments, { a: ["n1"] });
  const drained = place({ deployments: [removing], agents: [agent("n1")], previous: { a: ["n1"] }, queueDepth: { a: 0 } });
  assert.deepEqual(drained.assignments, { a: [] });
  assert.deepEqual(drained.decisions.map((x) => x.message), ["a drained; stopping its actor on n1"]);
});

test("a GPU-capable deployment prefers a node with a CUDA device", () => {
  const d = deployment("a", { device: "any" });
  assert.deepEqual(place({ deployments: [d], agents: [agent("cpu-node"), agent("gpu-node", { devices: ["cuda:0"] })], previous: {}, queueDepth: {} }).assignments, { a: ["gpu-node"] });
});

test("an agent starts what is assigned to it, and stops what is not, or belongs to an older deployment of the id", () => {
  const a = deployment("a", { created_at: 2 });
  const b = deployment("b");
  const placement = { assignments: { a: ["me"], b: ["other"] }, unplaced: {}, decisions: [], leader: "x", at: 0 };
  assert.deepEqual(planAgent("me", placement, [a, b], [{ model: "b", deployment: 1 }], {}), { start: [a], stop: ["b"] });
  assert.deepEqual(planAgent("me", placement, [a, b], [{ model: "a", deployment: 1 }], {}), { start: [], stop: ["a"] });
  assert.deepEqual(planAgent("me", placement, [a, b], [], { "a#2": "cannot read" }), { start: [], stop: [] });
});

test("a SQuARE DeployRequest gets SQuARE's defaults; model_name names the folder without model_path", () => {
  const d = parseDeployRequest({ identifier: "bert", model_name: "bert-base" }, DEFAULT_UPDATE_BOUNDS, 5);
  assert.deepEqual([d.folder, d.options.batch_size, d.options.max_input, d.options.disable_gpu, d.device, d.replicas, d.model_class, d.options.return_plaintext_arrays], ["bert-base", 32, 512, true, "cpu", 1, "from_config", false]);
  assert.equal(parseDeployRequest({ identifier: "bert", model_name: "x", model_path: "y/z", disable_gpu: false }, DEFAULT_UPDATE_BOUNDS, 5).folder, "y/z");
  assert.equal(parseDeployRequest({ identifier: "bert", model_name: "x", disable_gpu: false }, DEFAULT_UPDATE_BOUNDS, 5).device, "any");
  assert.throws(() => parseDeployRequest({ identifier: "x", model_name: "m", replicas: 65 }, DEFAULT_UPDATE_BOUNDS, 5), /replicas: must be an integer from 1 to 64/);
  assert.throws(() => parseDeployRequest([], DEFAULT_UPDATE_BOUNDS, 5), /body: must be a JSON object/);
});

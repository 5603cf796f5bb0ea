/**
 * Layers that only point down (DESIGN "Layout"): services → orchestration → tasks / add-ons /
 * explain → the model interface (lib/inference) ← lib/onnx. Fails on any import circle in lib/
 * and services/, and on any import between folders that the table below does not allow.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { importGraph, circles, folderOf } from "../../tools/imports/graph.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** Files directly in lib/ are layered one by one: a few are leaves everyone uses, the rest wire the node. */
const ROOT_FILES: Record<string, string> = {
  "lib/errors.ts": "lib/base",
  "lib/tensor.ts": "lib/base",
  "lib/package-paths.ts": "lib/base",
  "lib/backends.ts": "lib/backends",
  "lib/node.ts": "lib/root",
  "lib/cli.ts": "lib/root",
  "lib/demo-models.ts": "lib/root",
};

const layerOf = (file: string): string => ROOT_FILES[file] ?? folderOf(file);

/** Vocabulary and utilities with no knowledge of models, tasks or services: importable from anywhere. */
const BASE = ["lib/base", "lib/math", "lib/encoding", "lib/config", "lib/request", "lib/tokenization"];
const MODEL_SIDE = [...BASE, "lib/inference"];
const TASK_SIDE = [...MODEL_SIDE, "lib/generation", "lib/explain", "lib/tasks", "lib/attacks", "lib/addons"];
const ORCHESTRATION = [...TASK_SIDE, "lib/model", "lib/store", "lib/queue", "lib/orchestration", "lib/validation"];

/** Folder → the folders it may import (besides itself). Anything not listed is an import that points up. */
const MAY_IMPORT: Record<string, readonly string[]> = {
  "lib/base": [],
  "lib/math": ["lib/base"],
  "lib/encoding": ["lib/base"],
  "lib/request": ["lib/base"],
  "lib/config": ["lib/base", "lib/request"],
  "lib/tokenization": ["lib/base", "lib/request"],
  // The narrow model interface: what tasks see of a model and what an engine must implement.
  "lib/inference": BASE,
  // Implementations of the interface: the ONNX Runtime engine, batching, the assembled model.
  "lib/onnx": MODEL_SIDE,
  "lib/batching": MODEL_SIDE,
  "lib/model": [...MODEL_SIDE, "lib/onnx", "lib/batching", "lib/adapters"],
  "lib/fixtures": [...BASE, "lib/onnx"],
  // Tasks and request add-ons know only the interface, never lib/model, lib/onnx or the orchestration.
  "lib/explain": MODEL_SIDE,
  "lib/tasks": [...MODEL_SIDE, "lib/explain", "lib/generation"],
  // Generation's decoding (logits processors, sampling, beam search): pure, knows no model.
  "lib/generation": BASE,
  // Attack algorithms (docs/attacks.md) work on what tasks say of their predictions.
  "lib/attacks": [...MODEL_SIDE, "lib/explain", "lib/tasks"],
  "lib/addons": [...MODEL_SIDE, "lib/explain", "lib/tasks", "lib/attacks"],
  "lib/store": BASE,
  // Authentication, roles, rate limits, CORS: knows settings and errors, nothing of models or tasks.
  "lib/auth": BASE,
  "lib/queue": BASE,
  "lib/orchestration": ORCHESTRATION,
  "lib/validation": [...TASK_SIDE, "lib/model"],
  // Prometheus metrics of a replica (observed where the work happens), merged by the gateway.
  "lib/metrics": TASK_SIDE,
  "lib/gateway": [...ORCHESTRATION, "lib/auth", "lib/metrics"],
  "lib/backends": [...BASE, "lib/store", "lib/queue"],
  // Run-time model management (issue #15): request parsing, models root, placement; pure but for folder reads.
  "lib/management": [...BASE, "lib/store"],
  // AdapterHub adapter folders read into memory (issue #16): formats, restricted unpickler, configs, heads.
  "lib/adapters": BASE,
  services: [...ORCHESTRATION, "lib/gateway", "lib/backends", "lib/auth", "lib/metrics", "lib/management"],
  "moleculer.config": BASE,
  // The composition root: builds the broker and its services.
  "lib/root": [...ORCHESTRATION, "lib/gateway", "lib/backends", "lib/onnx", "lib/fixtures", "services", "moleculer.config", "lib/auth", "lib/management"],
};

const graph = importGraph(root);

test("no import circles in lib/ and services/", () => {
  assert.deepEqual(circles(graph), []);
});

test("every folder is placed in the layer table", () => {
  const unplaced = [...new Set([...graph.edges.keys()].map(layerOf))].filter((layer) => !(layer in MAY_IMPORT));
  assert.deepEqual(unplaced, [], "add new folders to MAY_IMPORT with the layers they may import");
});

test("imports only point down the layers", () => {
  const upward: string[] = [];
  for (const [from, targets] of graph.edges) {
    const a = layerOf(from);
    const allowed = MAY_IMPORT[a] ?? [];
    for (const to of targets) {
      const b = layerOf(to);
      if (a !== b && !allowed.includes(b)) upward.push(`${from} → ${to} (${a} may not import ${b})`);
    }
  }
  assert.deepEqual(upward, []);
});

test("nothing in lib/ or services/ imports tools/ or test/", () => {
  const found = [...graph.edges].flatMap(([from, targets]) => targets.filter((t) => /^(tools|test)\//.test(t)).map((t) => `${from} → ${t}`));
  assert.deepEqual(found, []);
});

/** GPU placement plumbing: actor groups per device and replica slot, child process arguments, CUDA fallback. No GPU here. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { planActorGroups, groupNodeId } from "../../lib/model/actor-plan.ts";
import { childArgs } from "../../lib/model/child-actors.ts";
import { withModelDefaults } from "../../lib/config/model-settings.ts";
import { parseDeviceList } from "../../lib/onnx/device.ts";
import { resolveSettings } from "../../lib/config/settings.ts";
import { ModelRuntime } from "../../lib/model/runtime.ts";
import { fixturePath } from "../helpers/fixtures.ts";

const a = withModelDefaults({ id: "a", path: "/m/a" });
const b = withModelDefaults({ id: "b", path: "/m/b", replicas_per_device: 2 });

test("one device and single replicas: one group, hosted in process", () => {
  const groups = planActorGroups([a], parseDeviceList("cpu"));
  assert.equal(groups.length, 1);
  assert.deepEqual(groups[0].models.map((m) => m.id), ["a"]);
});

test("two GPUs and a model with two replicas per device: a group per device and slot", () => {
  const groups = planActorGroups([a, b], parseDeviceList("cuda:0,cuda:1"));
  assert.deepEqual(groups.map((g) => [g.device.id, g.slot, g.models.map((m) => m.id)]), [
    [0, 0, ["a", "b"]],
    [0, 1, ["b"]],
    [1, 0, ["a", "b"]],
    [1, 1, ["b"]],
  ]);
  assert.equal(groupNodeId("node1", groups[3]), "node1-cuda1-1");
});

test("child processes get one device, the shared transporter, Redis, key prefix, cache folder and the parent's limits", () => {
  const settings = resolveSettings(["--transporter", "nats://n:4222", "--redis", "redis://r:6379", "--key-prefix", "p:", "--cache-dir", "/var/cache/sq", "--max-item-chars", "5000", "--max-batch-size", "64"], {});
  const [, second] = planActorGroups([b], parseDeviceList("cuda:3"));
  assert.deepEqual(childArgs(settings, second, "/tmp/m.json", "gpu-host"), [
    "serve", "--roles", "models", "--models", "/tmp/m.json", "--devices", "cuda:3", "--node-id", "gpu-host-cuda3-1",
    "--transporter", "nats://n:4222", "--redis", "redis://r:6379", "--key-prefix", "p:", "--visibility-timeout", "10", "--log-level", "info",
    "--cache-dir", "/var/cache/sq",
    "--max-item-chars", "5000", "--max-request-items", "1024", "--max-request-chars", "1000000", "--max-request-tokens", "131072", "--max-batch-size", "64",
  ]);
  // The node's inference pool size reaches its child processes (unset: each child picks its default).
  const sized = resolveSettings(["--transporter", "nats://n:4222", "--redis", "redis://r:6379", "--inference-threads", "3"], {});
  assert.equal(sized.inferenceThreads, 3);
  assert.deepEqual(childArgs(sized, second, "/tmp/m.json", "gpu-host").slice(-2), ["--inference-threads", "3"]);
  assert.equal(resolveSettings([], { SQUARE_INFERENCE_THREADS: "4" }).inferenceThreads, 4);
  assert.throws(() => resolveSettings(["--inference-threads", "0"], {}), /--inference-threads/);
});

test("asking for CUDA where its provider library is absent warns and serves on CPU", async () => {
  const r = await ModelRuntime.load(withModelDefaults({ id: "x", path: await fixturePath("bert-tiny-sst") }), { kind: "cuda", id: 0 });
  try {
    assert.match(r.providerWarning ?? "", /CUDA execution provider unavailable .*running on CPU/);
    assert.equal(r.deviceLabel, "cpu");
    const seqs = await r.tokenizer.encode(["hello"], { maxLength: 16, truncation: "longest_first", addSpecialTokens: true, stride: 0, returnOverflowing: false });
    assert.deepEqual((await r.forward(seqs)).items[0].logits.shape, [3]);
  } finally {
    await r.close();
  }
});

/**
 * Per-stage metrics on an embedded server (gateway and replica in one node, the same code path a
 * cluster uses: the gateway fetches the replica's registry through `model.<id>.metrics`). The
 * references are the tasks' own `timings` as stored with their results, the replica's
 * GET /stats batching numbers, and the failures the test causes.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startEmbedded, Embedded } from "../helpers/embedded.ts";
import { parsePrometheusText } from "../../lib/gateway/metrics.ts";
import { STAGES, STAGE_FIELD, STAGE_BUCKETS_S } from "../../lib/metrics/replica-metrics.ts";

const MODEL = "m/bert-tiny-sst";
let s: Embedded;
let node: string;

before(async () => {
  s = await startEmbedded([{ id: MODEL, path: "bert-tiny-sst" }]);
  node = s.node.broker.nodeID;
});
after(() => s.stop());

type Samples = ReturnType<typeof parsePrometheusText>;

async function scrape(query = ""): Promise<{ text: string; samples: Samples }> {
  const r = await s.get(`/metrics${query}`);
  assert.equal(r.status, 200);
  return { text: r.body as string, samples: parsePrometheusText(r.body as string) };
}

function value(samples: Samples, name: string, labels: Record<string, string>): number | undefined {
  const found = samples.filter((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  assert.ok(found.length <= 1, `${name} ${JSON.stringify(labels)}: ${found.length} samples`);
  return found[0]?.value;
}

const stageLabels = (stage: string) => ({ model: MODEL, node, stage, path: "queued" });

async function runAll(bodies: unknown[]): Promise<Record<string, number>[]> {
  const ids = [];
  for (const body of bodies) {
    const q = await s.post(`/${MODEL}/sequence-classification`, body);
    assert.equal(q.status, 200, JSON.stringify(q.body));
    ids.push(q.body.task_id);
  }
  const timings = [];
  for (const id of ids) {
    const r = await s.result(id, 60_000);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    timings.push(r.body.result.timings);
  }
  return timings;
}

test("after N tasks each stage histogram counts N, and its sum is the sum of the tasks' own timings", async () => {
  const texts = ["a great movie", "the plot was thin and the actors were bored", "fine", "an unexpectedly moving film about two brothers and a boat", "bad"];
  const timings = await runAll(texts.map((t, i) => ({ input: i % 2 ? [t, `${t} again`] : [t] })));
  const { samples, text } = await scrape();
  for (const stage of STAGES) {
    if (stage === "explain") continue; // no add-on asked for: not observed
    const labels = stageLabels(stage);
    const count = value(samples, "square_task_stage_seconds_count", labels);
    const sum = value(samples, "square_task_stage_seconds_sum", labels)!;
    assert.equal(count, texts.length, `${stage} count`);
    const expected = timings.reduce((acc, t) => acc + t[STAGE_FIELD[stage]], 0) / 1000;
    assert.ok(Math.abs(sum - expected) <= 1e-9 + 1e-9 * expected, `${stage}: sum ${sum} s, the tasks' timings say ${expected} s`);
    // Buckets are cumulative and end at +Inf with the count.
    const buckets = samples.filter((x) => x.name === "square_task_stage_seconds_bucket" && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
    assert.equal(buckets.length, STAGE_BUCKETS_S.length + 1, stage);
    for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i].value >= buckets[i - 1].value, `${stage} buckets cumulative`);
    assert.equal(buckets.at(-1)!.labels.le, "+Inf");
    assert.equal(buckets.at(-1)!.value, texts.length);
    // Each bucket holds exactly the tasks whose own timing is at most its bound.
    for (const b of buckets.slice(0, -1)) {
      const within: number = timings.filter((t) => t[STAGE_FIELD[stage]] / 1000 <= Number(b.labels.le)).length;
      assert.equal(b.value, within, `${stage} le=${b.labels.le}`);
    }
  }
  // Plausibility against each other: inference includes the batch wait; total covers every stage.
  const sum = (stage: string) => value(samples, "square_task_stage_seconds_sum", stageLabels(stage))!;
  assert.ok(sum("inference") >= sum("batch_wait"));
  // total_ms and queue_ms come from the millisecond wall clock (the queue entry's enqueue time), the
  // stages from performance.now(): each task's total may fall short of its stages by < 1 ms.
  const stagesS = sum("queue_wait") + sum("tokenize") + sum("inference") + sum("postprocess");
  assert.ok(sum("total") >= stagesS - texts.length * 0.001, `total ${sum("total")} s, stages ${stagesS} s`);
  assert.ok(sum("inference") > 0 && sum("total") < 60, `total ${sum("total")} s`);
  assert.equal(value(samples, "square_task_stage_seconds_count", stageLabels("explain")), undefined, "no explanation asked for: none observed");
  // One prefix, help and type on every family of ours.
  for (const family of new Set(samples.map((x) => x.name.replace(/_(bucket|sum|count)$/, "")).filter((n) => n.startsWith("square_")))) {
    assert.match(text, new RegExp(`^# HELP ${family} `, "m"), family);
    assert.match(text, new RegExp(`^# TYPE ${family} (gauge|counter|histogram)$`, "m"), family);
  }
});

test("batch counters, padding efficiency and gauges agree with GET /stats; queue depth and replicas ready per model", async () => {
  await runAll([{ input: ["short", "a much longer sentence with many more tokens in it than the first", "mid length text here"] }]);
  const stats = (await s.get(`/${MODEL}/stats`)).body;
  const { samples } = await scrape();
  const labels = { model: MODEL, node };
  const batching = stats.replicas[0].batching;
  const batches = value(samples, "square_batches_total", labels)!;
  const items = value(samples, "square_batch_items_total", labels)!;
  const tokens = value(samples, "square_batch_tokens_total", labels)!;
  const padded = value(samples, "square_batch_padded_tokens_total", labels)!;
  assert.equal(batches, batching.batches);
  assert.ok(Math.abs(items / batches - batching.mean_batch_items) < 1e-3, `${items}/${batches} vs ${batching.mean_batch_items}`);
  assert.ok(tokens > 0 && tokens <= padded);
  assert.ok(Math.abs(tokens / padded - batching.padding_efficiency) < 1e-3);
  assert.ok(Math.abs(value(samples, "square_batch_padding_efficiency", labels)! - batching.padding_efficiency) < 1e-3);
  assert.equal(value(samples, "square_batcher_waiting_items", labels), 0);
  assert.equal(value(samples, "square_replica_running_tasks", labels), 0);
  assert.equal(value(samples, "square_replica_info", { ...labels, device: "cpu" }), 1);
  assert.equal(value(samples, "square_queue_depth", { model: MODEL }), 0);
  assert.equal(value(samples, "square_replicas_ready", { model: MODEL }), 1);
  // The counters only grow: one more task, one more batch at least.
  await runAll([{ input: ["again"] }]);
  const later = (await scrape()).samples;
  assert.ok(value(later, "square_batches_total", labels)! >= batches + 1);
});

test("failures by type; explanation time observed for the tasks that ask for one", async () => {
  const before = (await scrape()).samples;
  const failedBefore = value(before, "square_task_failures_total", { model: MODEL, node, type: "invalid_request", path: "queued" }) ?? 0;
  const q = await s.post(`/${MODEL}/sequence-classification`, { input: [["a b c d e f g", "h i j k"]], preprocessing_kwargs: { truncation: "only_second", max_length: 6 } });
  assert.equal(q.status, 200);
  assert.equal((await s.result(q.body.task_id)).body.error.type, "invalid_request");
  const [explained] = await runAll([{ input: ["a great movie"], explain_kwargs: { method: "simple_grads" } }]);
  const { samples } = await scrape();
  assert.equal(value(samples, "square_task_failures_total", { model: MODEL, node, type: "invalid_request", path: "queued" }), failedBefore + 1);
  assert.equal(value(samples, "square_task_stage_seconds_count", stageLabels("explain")), 1);
  const explainS = value(samples, "square_task_stage_seconds_sum", stageLabels("explain"))!;
  assert.ok(Math.abs(explainS - explained.explain_ms / 1000) < 1e-9, `${explainS} s vs ${explained.explain_ms} ms`);
  assert.ok(explained.explain_ms > 0);
});

test("a direct Moleculer call is observed with path=direct (no queue wait)", async () => {
  const out = await s.node.broker.call<{ timings: Record<string, number> }, object>(`model.${MODEL}.sequence-classification`, { input: ["direct call"] });
  const { samples } = await scrape();
  const direct = (stage: string) => ({ model: MODEL, node, stage, path: "direct" });
  assert.equal(value(samples, "square_task_stage_seconds_count", direct("inference")), 1);
  assert.ok(Math.abs(value(samples, "square_task_stage_seconds_sum", direct("inference"))! - out.timings.inference_ms / 1000) < 1e-9);
  assert.equal(value(samples, "square_task_stage_seconds_count", direct("queue_wait")), undefined);
  assert.ok(value(samples, "square_task_stage_seconds_sum", direct("total"))! * 1000 >= out.timings.inference_ms);
});

test("?scope=gateway leaves the replicas' series out", async () => {
  const { samples } = await scrape("?scope=gateway");
  assert.ok(samples.some((x) => x.name === "square_tasks_submitted_total"));
  assert.ok(!samples.some((x) => x.name.startsWith("square_task_stage_seconds") || x.name === "square_queue_depth"));
});

test("every metric the Grafana dashboard (docs/grafana-dashboard.json) queries is exposed, with the labels it uses", async () => {
  const { readFile } = await import("node:fs/promises");
  const dashboard = JSON.parse(await readFile(new URL("../../docs/grafana-dashboard.json", import.meta.url), "utf8"));
  const exprs: string[] = dashboard.panels.flatMap((p: { targets: { expr: string }[] }) => p.targets.map((t) => t.expr));
  const { samples, text } = await scrape();
  // A family is exposed when it has a TYPE line (a labelled counter that never counted has no sample yet).
  const family = (name: string) => name.replace(/_(bucket|sum|count)$/, "");
  const labelsOf = (name: string) => new Set(samples.filter((x) => x.name === name).flatMap((x) => Object.keys(x.labels)));
  for (const expr of exprs) {
    for (const [, name, selector] of expr.matchAll(/\b(square_[a-z_]+)(?:\{([^}]*)\})?/g)) {
      assert.match(text, new RegExp(`^# TYPE (${name}|${family(name)}) `, "m"), `${name} (in ${expr}) is not exposed`);
      const labels = labelsOf(name);
      if (labels.size) for (const [, label] of (selector ?? "").matchAll(/([a-z_]+)\s*(?:=~|!=|=)/g)) assert.ok(labels.has(label), `${name} has no label ${label} (in ${expr})`);
    }
  }
});

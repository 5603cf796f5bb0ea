/**
 * `GET /metrics` (Prometheus text format) on an embedded server, and the event-loop window behind
 * it. References: the kernel's own VmRSS for this process (the server runs in it), the number of
 * tasks the test itself queued, and event-loop stalls the test causes with a busy wait of known
 * length (a stall of D ms must be reported as a delay of at least D ms).
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { startEmbedded, Embedded } from "../helpers/embedded.ts";
import { EventLoopDelay, parsePrometheusText } from "../../lib/gateway/metrics.ts";

let s: Embedded;

before(async () => {
  s = await startEmbedded([{ id: "metrics/bert-tiny-sst", path: "bert-tiny-sst" }]);
});
after(() => s.stop());

const busyWait = (ms: number) => {
  const until = performance.now() + ms;
  while (performance.now() < until);
};
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function scrape() {
  const r = await s.get("/metrics");
  assert.equal(r.status, 200);
  assert.match(r.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  const samples = parsePrometheusText(r.body as string);
  const one = (name: string, labels: Record<string, string> = {}) => {
    const found = samples.filter((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
    assert.equal(found.length, 1, `${name} ${JSON.stringify(labels)}: ${found.length} samples`);
    return found[0].value;
  };
  return { text: r.body as string, samples, one };
}

async function vmRssBytes(): Promise<number> {
  const status = await readFile("/proc/self/status", "utf8");
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)![1]) * 1024;
}

test("every line parses; each family has HELP and TYPE; memory matches the kernel's VmRSS", async () => {
  const { text, one } = await scrape();
  for (const line of text.trim().split("\n").filter((l) => l && !l.startsWith("#"))) {
    const sample = line.split(/[{ ]/)[0];
    // A histogram's samples are its family name plus _bucket, _sum or _count.
    const family = [sample, sample.replace(/_(bucket|sum|count)$/, "")].find((n) => new RegExp(`^# TYPE ${n} `, "m").test(text)) ?? sample;
    assert.match(text, new RegExp(`^# HELP ${family} `, "m"), family);
    assert.match(text, new RegExp(`^# TYPE ${family} (gauge|counter|histogram)$`, "m"), family);
  }
  for (const name of ["nodejs_eventloop_lag_p99_seconds", "process_cpu_seconds_total", "nodejs_gc_duration_seconds"]) assert.match(text, new RegExp(`^# TYPE ${name} `, "m"), `default process metric ${name}`);
  const rss = one("process_resident_memory_bytes");
  const kernel = await vmRssBytes();
  assert.ok(Math.abs(rss - kernel) / kernel < 0.1, `rss ${rss} vs VmRSS ${kernel}`);
  const used = one("nodejs_heap_size_used_bytes");
  const total = one("nodejs_heap_size_total_bytes");
  assert.ok(used > 0 && used <= total, `heap ${used} of ${total}`);
  assert.ok(one("nodejs_external_memory_bytes") > 0);
});

test("task counters count the tasks queued and finished through this gateway, per model", async () => {
  const ids: string[] = [];
  for (const text of ["a great movie", "the plot was thin", "fine"]) ids.push((await s.post("/metrics/bert-tiny-sst/sequence-classification", { input: [text] })).body.task_id);
  for (const id of ids) assert.equal((await s.result(id)).status, 200);
  let m = await scrape();
  // task.finished is an event: wait (bounded) until the gateway has handled all three.
  for (let i = 0; i < 50 && m.samples.filter((x) => x.name === "square_tasks_finished_total").length === 0; i++) m = await sleep(20).then(scrape);
  assert.equal(m.one("square_tasks_submitted_total", { model: "metrics/bert-tiny-sst" }), 3);
  assert.equal(m.one("square_tasks_finished_total", { model: "metrics/bert-tiny-sst", state: "succeeded" }), 3);
});

test("event-loop delay: quantiles ordered and positive; a stall shows up as at least its length", async () => {
  const before = await scrape();
  const window = { window_seconds: "5" };
  const q = (m: typeof before, quantile: string) => m.one("square_event_loop_delay_seconds", { ...window, quantile });
  assert.ok(q(before, "0.5") > 0, "an idle loop still reports its sampling interval");
  // Two stalls 1.2 s apart: a stall right after a slice rotation can go unrecorded (the reset
  // drops the interval in progress), and at most one of the two can fall there.
  busyWait(300);
  await sleep(1200);
  busyWait(300);
  await sleep(50);
  const after = await scrape();
  const [p50, p90, p99, max] = ["0.5", "0.9", "0.99", "1"].map((x) => q(after, x));
  assert.ok(0 < p50 && p50 <= p90 && p90 <= p99 && p99 <= max, `${p50} ≤ ${p90} ≤ ${p99} ≤ ${max}`);
  assert.ok(max >= 0.3, `window max ${max} s after a 300 ms stall`);
  assert.ok(after.one("square_event_loop_delay_max_seconds") >= 0.3);
  assert.ok(after.one("square_event_loop_delay_window_samples", window) > 0);
  assert.ok(after.one("square_event_loop_delay_samples_total") > before.one("square_event_loop_delay_samples_total"));
});

test("the route is listed in the OpenAPI document", async () => {
  const doc = (await s.get("/openapi.json")).body;
  assert.ok(doc.paths["/api/main/metrics"]?.get);
});

test("EventLoopDelay: a stall is in the window until it rotates out; the process-wide max keeps it", async () => {
  const delay = new EventLoopDelay({ sliceMs: 1e9, windowSlices: 2 }); // rotated by hand only
  try {
    await sleep(100);
    busyWait(250);
    await sleep(30);
    delay.rotate();
    const withStall = delay.summary();
    assert.ok(withStall.max >= 0.25, `max ${withStall.max}`);
    assert.ok(withStall.count > 0);
    assert.ok(withStall.p50 > 0 && withStall.p50 <= withStall.p99 && withStall.p99 <= withStall.max);
    // Two rotations with no time in between: the stall's slice leaves the 2-slice window and
    // nothing new can have been sampled (the monitor's timer cannot run inside this code).
    delay.rotate();
    delay.rotate();
    const empty = delay.summary();
    assert.deepEqual([empty.count, empty.max, empty.p99], [0, 0, 0]);
    assert.ok(delay.totals().maxSeconds >= 0.25);
  } finally {
    delay.stop();
  }
});

test("parsePrometheusText reads labels with escapes and special values", () => {
  const parsed = parsePrometheusText('# HELP x y\nx{a="q\\"uote",b="back\\\\slash"} 1.5\ny +Inf\nz{} NaN\n');
  assert.deepEqual(parsed.slice(0, 2), [
    { name: "x", labels: { a: 'q"uote', b: "back\\slash" }, value: 1.5 },
    { name: "y", labels: {}, value: Infinity },
  ]);
  assert.ok(Number.isNaN(parsed[2].value));
  assert.throws(() => parsePrometheusText("not a sample"), /not a Prometheus sample line/);
});

/**
 * Generation across a real cluster (NATS and Redis, separate processes): the asynchronous route
 * through the queue, and the streaming route with the replica's stream crossing NATS; a client
 * that disconnects mid-stream stops the generation on the other node (the gateway broadcasts
 * `generation.cancel`, since a transporter stream carries no cancellation back).
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, clusterEnv, killAll } from "../helpers/processes.ts";
import { httpClient, Client } from "../helpers/http.ts";
import { writeModelsFile } from "../helpers/fixtures.ts";
import { postSse, type SseEvent } from "../helpers/sse.ts";

const env = clusterEnv();
let api: Client;

before(async () => {
  const modelsFile = await writeModelsFile([{ id: "gpt2-tiny", path: "gpt2-tiny", return_plaintext_arrays: true }]);
  const gateway = await startServer("gateway", ["--roles", "gateway,scheduler", "--port", "0"], env);
  api = httpClient(`http://127.0.0.1:${gateway.port}/api/main`);
  await startServer("replica", ["--roles", "models", "--models", modelsFile], env);
  for (let i = 0; i < 200; i++) {
    const models = (await api.get("/models")).body as { id: string; replicas_ready: number }[];
    if (models.find((m) => m.id === "gpt2-tiny")?.replicas_ready === 1) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("gpt2-tiny never became ready");
});
after(() => killAll());

/** The SSE frames of a streamed generation; the connection is dropped after `stopAfter` token frames. */
async function streamFrames(body: unknown, stopAfter = Infinity): Promise<SseEvent[]> {
  const { status, events } = await postSse(`${api.base}/gpt2-tiny/generation/stream`, body, stopAfter);
  assert.equal(status, 200);
  return events;
}

test("the asynchronous route and the stream give the same generation across NATS", async () => {
  const body = { input: ["John lives in Paris with", "the dog"], task_kwargs: { max_new_tokens: 10 } };
  const q = await api.post("/gpt2-tiny/generation", body);
  assert.equal(q.status, 200, JSON.stringify(q.body));
  const done = await api.result(q.body.task_id, 30_000);
  assert.equal(done.status, 200, JSON.stringify(done.body));
  const frames = await streamFrames(body);
  const last = frames[frames.length - 1];
  assert.equal(last.event, "result", JSON.stringify(last));
  assert.deepEqual(last.data.result.generated_texts, done.body.result.generated_texts);
  assert.deepEqual(last.data.result.model_outputs.sequences, done.body.result.model_outputs.sequences);
  assert.ok(frames.filter((f) => f.event === "token").length >= 10);
});

test("a client leaving a stream stops the generation on the replica's node", async () => {
  const batches = async () => (await api.get("/gpt2-tiny/stats")).body.replicas[0].batching.batches as number;
  const body = { input: ["the dog"], task_kwargs: { max_new_tokens: 120, min_new_tokens: 120 } };
  const before0 = await batches();
  await streamFrames(body);
  const full = (await batches()) - before0;
  assert.ok(full >= 120, `${full} batches for 120 new tokens`);
  const before1 = await batches();
  await streamFrames(body, 3);
  await new Promise((r) => setTimeout(r, 1000));
  const cut = (await batches()) - before1;
  assert.ok(cut < 40, `the replica kept stepping an abandoned generation: ${cut} batches`);
});

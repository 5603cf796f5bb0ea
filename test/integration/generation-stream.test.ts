/**
 * SPEC §6.5 streaming: `POST /{model}/generation/stream` as server-sent events and the model
 * actors' `generation_stream` Moleculer action. The text of the token events, concatenated per
 * sequence, equals the final result's new text; the final event is the same result the
 * asynchronous route gives; a client that disconnects mid-stream stops the generation (its rows
 * leave the batcher); beam search sends each sequence when its prompt finishes.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import type { Readable } from "node:stream";
import { startEmbedded, Embedded } from "../helpers/embedded.ts";
import { readEvents, type StreamEvent } from "../../lib/orchestration/event-stream.ts";
import { postSse, type SseEvent } from "../helpers/sse.ts";

let s: Embedded;
before(async () => {
  s = await startEmbedded([
    { id: "gpt2-tiny", path: "gpt2-tiny", return_plaintext_arrays: true },
    { id: "t5-tiny", path: "t5-tiny", return_plaintext_arrays: true },
  ]);
});
after(() => s?.stop());

/** Reads a generation stream; `stopAfter` tokens, then the connection is dropped. */
const stream = (model: string, body: unknown, stopAfter = Infinity) => postSse(`${s.base}/${model}/generation/stream`, body, stopAfter);

/** Concatenated token text per `prompt:sequence`. */
function textsOf(events: SseEvent[]): Map<string, string> {
  const texts = new Map<string, string>();
  for (const e of events.filter((x) => x.event === "token")) texts.set(`${e.data.prompt}:${e.data.sequence}`, (texts.get(`${e.data.prompt}:${e.data.sequence}`) ?? "") + e.data.text);
  return texts;
}

test("the streamed text equals the final result's, and the final event equals the asynchronous route's result", async () => {
  const prompts = ["John lives in Paris with", "the dog"];
  const body = { input: prompts, task_kwargs: { max_new_tokens: 12 } };
  const { status, type, events } = await stream("gpt2-tiny", body);
  assert.equal(status, 200);
  assert.match(type!, /^text\/event-stream/);
  const last = events[events.length - 1];
  assert.equal(last.event, "result", JSON.stringify(last));
  assert.equal(last.data.status, "Finished");
  assert.ok(events.filter((e) => e.event === "token").length >= 2);
  const streamed = textsOf(events);
  prompts.forEach((p, i) => assert.equal(p + streamed.get(`${i}:0`), last.data.result.generated_texts[i][0], `prompt ${i}`));
  const q = await s.post("/gpt2-tiny/generation", body);
  const asynchronous = await s.result(q.body.task_id, 30_000);
  assert.deepEqual(last.data.result.generated_texts, asynchronous.body.result.generated_texts);
  assert.deepEqual(last.data.result.model_outputs, asynchronous.body.result.model_outputs);
});

test("encoder-decoder streaming and beam search: each beam sequence is sent when its prompt finishes", async () => {
  const { events } = await stream("t5-tiny", { input: ["a great movie"], task_kwargs: { max_new_tokens: 8, num_beams: 3, num_return_sequences: 2 } });
  const last = events[events.length - 1];
  assert.equal(last.event, "result");
  const streamed = textsOf(events);
  assert.equal(streamed.size, 2);
  last.data.result.generated_texts[0].forEach((text: string, k: number) => assert.equal(streamed.get(`0:${k}`), text));
});

test("a request the gateway refuses is a JSON error, not a stream", async () => {
  const { status, events } = await stream("gpt2-tiny", { input: ["x"], task_kwargs: { num_beams: 0 } });
  assert.equal(status, 422);
  assert.equal(events[0].event, "json");
  assert.match(JSON.stringify(events[0].data), /num_beams/);
});

test("a client that disconnects mid-stream stops its generation: no more batches run for it", async () => {
  const batches = async () => (await s.get("/gpt2-tiny/stats")).body.replicas[0].batching.batches as number;
  const body = { input: ["the dog"], task_kwargs: { max_new_tokens: 120, min_new_tokens: 120 } };
  // Read to the end, the request takes a batch per new token.
  const full0 = await batches();
  await stream("gpt2-tiny", body);
  const full = (await batches()) - full0;
  assert.ok(full >= 120, `${full} batches for 120 new tokens`);
  // Dropped after 3 tokens: the replica stops stepping it.
  const cut0 = await batches();
  const { events } = await stream("gpt2-tiny", body, 3);
  assert.equal(events.filter((e) => e.event === "token").length, 3);
  await new Promise((r) => setTimeout(r, 800));
  const cut = (await batches()) - cut0;
  assert.ok(cut < 30, `the replica kept stepping an abandoned generation: ${cut} batches`);
});

test("Moleculer clients: the generation_stream action streams JSON lines ending in the result", async () => {
  const source = await s.node.broker.call<Readable, object>("model.gpt2-tiny.generation_stream", { input: ["the dog"], task_kwargs: { max_new_tokens: 5 } });
  const events: StreamEvent[] = [];
  for await (const e of readEvents(source)) events.push(e);
  // Five new tokens; a character split over byte-level tokens is sent once complete (an event may carry tokens and no text, or the reverse).
  assert.equal(events.reduce((n, e) => n + (e.event === "token" ? e.tokens.length : 0), 0), 5);
  const last = events[events.length - 1];
  assert.equal(last.event, "result");
  if (last.event === "result") assert.equal((last.result.generated_texts as string[][])[0][0].startsWith("the dog"), true);
});

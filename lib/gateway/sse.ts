/**
 * The streaming route's body (SPEC §6.5): a task's events as server-sent events. `token` events
 * carry a sequence's new tokens and text; the last event is `result`, with the same body
 * `task_result` gives a finished task, or `error`, with the body of a failed one. When the client
 * goes away first, `onAbandoned` runs (the gateway then stops the generation on its replica).
 */
import { Readable, pipeline } from "node:stream";
import type { ServerResponse } from "node:http";
import type { StreamEvent } from "../orchestration/event-stream.ts";

const frame = (event: string, data: unknown) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

export function sseStream(events: AsyncIterable<StreamEvent>, streamId: string, onAbandoned: () => void): Readable {
  let finished = false;
  async function* frames(): AsyncGenerator<string> {
    for await (const e of events) {
      if (e.event === "token") {
        const { event: _event, ...token } = e;
        yield frame("token", token);
      } else if (e.event === "result") {
        finished = true;
        yield frame("result", { task_id: streamId, status: "Finished", result: e.result });
        return;
      } else {
        finished = true;
        yield frame("error", { task_id: streamId, status: "Failed", status_code: e.status, error: e.error });
        return;
      }
    }
    finished = true;
    yield frame("error", { task_id: streamId, status: "Failed", error: { type: "unavailable", message: "the replica ended the stream without a result" } });
  }
  const stream = Readable.from(frames(), { objectMode: false });
  stream.on("close", () => {
    if (!finished) onAbandoned();
  });
  return Object.assign(stream, { [EVENT_STREAM]: true });
}

const EVENT_STREAM = Symbol("server-sent events");

export const isEventStream = (data: unknown): data is Readable => typeof data === "object" && data !== null && (data as Record<symbol, unknown>)[EVENT_STREAM] === true;

/**
 * Writes an event stream to the response. A client that leaves early is a normal end of a stream,
 * not an error: nothing is logged (moleculer-web's own stream sending logs it with a stack trace).
 */
export function sendEventStream(res: ServerResponse, stream: Readable): void {
  res.writeHead(200, { "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache", "X-Accel-Buffering": "no" });
  pipeline(stream, res, () => undefined);
}

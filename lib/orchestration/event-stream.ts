/**
 * A task run as a stream of events (SPEC §6.5 streaming), for the model actors' stream action
 * and, through it, the gateway's server-sent events: one JSON line per event, `token` events as
 * the task reports progress, then one `result` (the same result `task_result` would hold, with
 * its timings) or one `error` (SPEC §12 type and message). Lines are bytes, so the stream crosses
 * any Moleculer transporter. Closing the stream early (the client went away) aborts the run
 * between steps, which frees its rows in the batcher.
 */
import { PassThrough, type Readable } from "node:stream";
import { toErrorBody } from "../errors.ts";
import type { RunHooks } from "./execute.ts";

export type StreamEvent =
  | { event: "token"; prompt: number; sequence: number; tokens: number[]; text: string }
  | { event: "result"; result: Record<string, unknown> }
  | { event: "error"; status: number; error: Record<string, unknown> };

export interface TaskEventStream {
  stream: Readable;
  /** Ends the run early (also done when the stream is closed). */
  abort(): void;
}

export function taskEventStream(run: (hooks: RunHooks) => Promise<Record<string, unknown>>): TaskEventStream {
  const controller = new AbortController();
  const stream = new PassThrough();
  const write = (event: StreamEvent) => {
    if (!stream.destroyed && !stream.writableEnded) stream.write(`${JSON.stringify(event)}\n`);
  };
  stream.on("close", () => controller.abort());
  run({ signal: controller.signal, onProgress: (p) => write({ event: "token", ...p }) }).then(
    (result) => {
      write({ event: "result", result });
      stream.end();
    },
    (err: Error) => {
      if (!controller.signal.aborted) {
        const { status, body } = toErrorBody(err);
        write({ event: "error", status, error: body.error as Record<string, unknown> });
      }
      stream.end();
    },
  );
  return { stream, abort: () => controller.abort() };
}

/** Splits a stream of JSON lines back into events (the gateway's side). */
export async function* readEvents(stream: AsyncIterable<Buffer | string>): AsyncGenerator<StreamEvent> {
  let pending = "";
  for await (const chunk of stream) {
    pending += chunk.toString();
    let newline: number;
    while ((newline = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      if (line) yield JSON.parse(line) as StreamEvent;
    }
  }
}

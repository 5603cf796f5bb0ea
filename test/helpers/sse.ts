/** Server-sent events as the tests read them (the generation stream route, SPEC §6.5). */

export interface SseEvent {
  event: string;
  data: any;
}

/** One frame: `event: NAME` and `data: JSON` lines. */
const parseFrame = (block: string): SseEvent => ({ event: /^event: (.*)$/m.exec(block)![1], data: JSON.parse(/^data: (.*)$/m.exec(block)![1]) });

/** Every frame of a whole event-stream body. */
export const parseSse = (text: string): SseEvent[] =>
  text
    .split("\n\n")
    .filter((b) => b.trim())
    .map(parseFrame);

/**
 * POSTs `body` to a stream route and reads its frames as they come; after `stopAfter` token frames
 * the connection is dropped (a client leaving). A response that is not an event stream (a refusal)
 * comes back as one `json` event holding its body.
 */
export async function postSse(url: string, body: unknown, stopAfter = Infinity): Promise<{ status: number; type: string | null; events: SseEvent[] }> {
  const controller = new AbortController();
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), signal: controller.signal });
  const type = res.headers.get("content-type");
  if (!res.body || !type?.startsWith("text/event-stream")) return { status: res.status, type, events: [{ event: "json", data: await res.json() }] };
  const events: SseEvent[] = [];
  let pending = "";
  const decoder = new TextDecoder();
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      pending += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = pending.indexOf("\n\n")) >= 0) {
        events.push(parseFrame(pending.slice(0, end)));
        pending = pending.slice(end + 2);
        if (events.filter((e) => e.event === "token").length >= stopAfter) {
          controller.abort();
          return { status: res.status, type, events };
        }
      }
    }
  } catch (err) {
    if ((err as Error).name !== "AbortError") throw err;
  }
  return { status: res.status, type, events };
}

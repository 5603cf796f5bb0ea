/** The request as a copyable shell command. */
import { API_BASE } from "./api.ts";

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export function curlCommand(path: string, body: unknown, opts: { stream?: boolean; auth?: boolean } = {}): string {
  const lines = [`curl -s${opts.stream ? "N" : ""} -X POST ${quote(`${API_BASE}${path}`)}`, `-H 'content-type: application/json'`];
  if (opts.auth) lines.push(`-H "Authorization: Bearer $SQUARE_TOKEN"`);
  lines.push(`-d ${quote(JSON.stringify(body))}`);
  const submit = lines.join(" \\\n  ");
  if (opts.stream) return submit;
  const poll = `curl -s${opts.auth ? ` -H "Authorization: Bearer $SQUARE_TOKEN"` : ""} ${quote(`${API_BASE}/task_result/`)}"$TASK_ID"'?wait=30'`;
  return `TASK_ID=$(${submit} | sed -E 's/.*"task_id":"([^"]+)".*/\\1/')\n${poll}`;
}

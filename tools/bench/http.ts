/** A lean keep-alive HTTP JSON client for the load generator (node:http: less client CPU than fetch). */
import http from "node:http";

export interface JsonReply {
  status: number;
  body: any;
}

export const keepAliveAgent = (): http.Agent => new http.Agent({ keepAlive: true, maxSockets: Infinity });

export function requestJson(agent: http.Agent, method: "GET" | "POST", url: string, body?: unknown): Promise<JsonReply> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(url, { method, agent, headers: payload ? { "content-type": "application/json", "content-length": Buffer.byteLength(payload) } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          /* not JSON (metrics text) */
        }
        resolve({ status: res.statusCode ?? 0, body: parsed });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(payload);
  });
}

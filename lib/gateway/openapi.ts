/** OpenAPI 3 document generated from the route table (lib/gateway/routes.ts). */
import { ROUTES, RouteSpec } from "./routes.ts";
import { DEFAULT_UPDATE_BOUNDS, UpdateBounds } from "../config/limits.ts";

const PARAM_NAMES: Record<string, string> = { user: "hf_username", id: "identifier", task_id: "task_id" };

const TASK_BODY = {
  type: "object",
  required: ["input"],
  properties: {
    input: { description: "list of texts, list of [text, text_pair], or (with is_preprocessed) an object of token arrays", oneOf: [{ type: "array", items: {} }, { type: "object" }] },
    is_preprocessed: { type: "boolean", default: false },
    preprocessing_kwargs: { type: "object", default: {} },
    model_kwargs: { type: "object", default: {} },
    task_kwargs: { type: "object", default: {} },
    explain_kwargs: { type: "object", default: {} },
    attack_kwargs: { type: "object", default: {} },
    adapter_name: { oneOf: [{ type: "string" }, { type: "array", items: { type: "string" } }], default: "" },
  },
};

/** The update body with this server's bounds (`--max-batch-size`, `--max-request-items`). */
const updateBody = (bounds: UpdateBounds) => ({
  type: "object",
  additionalProperties: false,
  properties: {
    disable_gpu: { type: "boolean" },
    batch_size: { type: "integer", minimum: 1, maximum: bounds.maxBatchSize },
    max_input: { type: "integer", minimum: 1, maximum: bounds.maxInput },
    return_plaintext_arrays: { type: "boolean" },
  },
});

const ERROR_BODY = { type: "object", properties: { error: { type: "object", properties: { type: { type: "string" }, message: { type: "string" }, details: { type: "array" } } } } };

export const openApiPath = (prefix: string, path: string): string =>
  `${prefix}/${path.replace(/:(\w+)/g, (_, name: string) => `{${PARAM_NAMES[name] ?? name}}`)}`;

function operation(route: RouteSpec, bounds: UpdateBounds) {
  const params = [...route.path.matchAll(/:(\w+)/g)].map((m) => ({ name: PARAM_NAMES[m[1]] ?? m[1], in: "path", required: true, schema: { type: "string" } }));
  if (route.model && !route.path.startsWith(":user")) params.push({ name: "hf_username", in: "query", required: false, schema: { type: "string" } } as never);
  if (route.action === "taskResult") params.push({ name: "wait", in: "query", required: false, schema: { type: "number", minimum: 0, maximum: 60 }, description: "long-poll: answer as soon as the task ends, or after this many seconds" } as never);
  const waitsOnPost = route.task !== undefined && route.action !== "streamGeneration";
  if (waitsOnPost) params.push({ name: "wait", in: "query", required: false, schema: { type: "number", minimum: 0, maximum: 60 }, description: "beyond SQuARE: answer with the task's result (as task_result would) when it ends within this many seconds; else 202 with the task_id" } as never);
  const body = route.body === "task" ? TASK_BODY : route.body === "update" ? updateBody(bounds) : undefined;
  const auth = route.access === "public" ? [] : ["401", "403"];
  const codes = [...auth, ...(body ? ["400", "404", "413", "415", "422", "429", "503"] : ["404", "422", "429", "503"])];
  const errors = Object.fromEntries(codes.map((code) => [code, { description: "error", content: { "application/json": { schema: ERROR_BODY } } }]));
  return {
    summary: route.access === "admin" ? `${route.summary} (admin role)` : route.summary,
    ...(route.access === "public" ? { security: [] } : {}),
    operationId: `${route.action}${route.path.startsWith(":user") ? "_user" : ""}`,
    parameters: params,
    ...(body ? { requestBody: { required: true, content: { "application/json": { schema: body } } } } : {}),
    responses: { "200": { description: "OK" }, ...(route.path.startsWith("task_result") || waitsOnPost ? { "202": { description: "queued or running" }, "500": { description: "the task failed" } } : {}), ...errors },
  };
}

export function openApiDocument(prefix: string, version: string, bounds: UpdateBounds = DEFAULT_UPDATE_BOUNDS): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of ROUTES) (paths[openApiPath(prefix, route.path)] ??= {})[route.method.toLowerCase()] = operation(route, bounds);
  // With `--auth none` the bearer requirement is simply not enforced; the document stays the same.
  const components = { securitySchemes: { bearer: { type: "http", scheme: "bearer", description: "a JWT (--auth jwt) or an API key (--auth apikey)" } } };
  return { openapi: "3.0.3", info: { title: "square-inference", version, description: "SQuARE-compatible model inference API" }, security: [{ bearer: [] }], components, paths };
}

export function docsPage(prefix: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>square-inference API</title>
<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}code{background:#eee;padding:0 .3em}li{margin:.3em 0}</style></head>
<body><h1>square-inference API</h1><p>The machine-readable document: <a href="${prefix}/openapi.json">${prefix}/openapi.json</a></p><ul id="routes"></ul>
<script>fetch(${JSON.stringify(prefix + "/openapi.json")}).then(r=>r.json()).then(doc=>{const ul=document.getElementById("routes");
for(const [p,ops] of Object.entries(doc.paths))for(const [m,op] of Object.entries(ops)){const li=document.createElement("li");
li.innerHTML="<code>"+m.toUpperCase()+" "+p+"</code> "+op.summary;ul.appendChild(li);}});</script></body></html>`;
}

/**
 * SQuARE's model-manager routes (research §9.1) under `--models-prefix` (default /api/models),
 * as data: moleculer-web aliases, the guard's access table and the action access check come
 * from this one table. Add and remove worker accept POST/DELETE (the server's declaration) and
 * PATCH (what SQuARE's Python client sends); update accepts PATCH and POST.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import ApiGateway from "moleculer-web";
import type { Access } from "../auth/access.ts";
import type { GatewaySecurity } from "../auth/security.ts";
import { routeGuard, routeRegex } from "./route-guard.ts";

export interface ManagementRoute {
  methods: ("GET" | "POST" | "PATCH" | "DELETE")[];
  path: string;
  action: string;
  summary: string;
  access: Access;
}

const forms = (rest: (id: string) => string) => [rest(":user/:id"), rest(":id")];

function routes(methods: ManagementRoute["methods"], paths: string[], action: string, summary: string, access: Access = "admin"): ManagementRoute[] {
  return paths.map((path) => ({ methods, path, action, summary, access }));
}

export const MANAGEMENT_ROUTES: readonly ManagementRoute[] = Object.freeze([
  ...routes(["GET"], ["health/heartbeat"], "mmHeartbeat", "Model manager heartbeat", "public"),
  ...routes(["GET"], ["deployed-models"], "mmDeployedModels", "Deployed models with their settings and ready replicas"),
  ...routes(["GET"], ["deployed-model-workers"], "mmWorkers", "Ready replicas per model"),
  ...routes(["GET"], ["health"], "mmHealth", "Whether each model has a ready replica"),
  ...routes(["GET"], ["explainers"], "mmExplainers", "The explanation methods"),
  ...routes(["GET"], ["placement"], "mmPlacement", "The placement: nodes, assignments, recent decisions"),
  ...routes(["GET"], ["task_result/:task_id"], "mmTaskResult", "State of a deploy, scale or remove task, with progress"),
  ...routes(["POST"], ["deploy"], "mmDeploy", "Deploy a model folder under the models root (202 with a task id)"),
  ...routes(["DELETE", "POST"], forms((id) => `remove/${id}`), "mmRemove", "Remove a model after its queue drains"),
  ...routes(["POST", "PATCH"], forms((id) => `${id}/add_worker/:num`), "mmAddWorker", "Add replicas"),
  ...routes(["DELETE", "PATCH"], forms((id) => `${id}/remove_worker/:num`), "mmRemoveWorker", "Remove replicas"),
  ...routes(["PATCH", "POST"], forms((id) => `update/${id}`), "mmUpdate", "Change batch_size, max_input, return_plaintext_arrays, disable_gpu"),
  ...routes(["GET"], forms((id) => `${id}/health`), "mmModelHealth", "One model's replicas: wanted, ready, where, why not"),
]);

export const MANAGEMENT_ACCESS: ReadonlyMap<string, Access> = new Map(MANAGEMENT_ROUTES.map((r) => [r.action, r.access]));

const PATTERNS = MANAGEMENT_ROUTES.map((route) => ({ route, regex: routeRegex(route.path) }));

export function matchManagementRoute(method: string | undefined, path: string): ManagementRoute | undefined {
  return PATTERNS.find((p) => p.route.methods.includes(method as never) && p.regex.test(path))?.route;
}

/** The guard: authentication (401), the admin role (403), the request rate (429), before the body is read. */
export function managementGuard(prefix: string, security: GatewaySecurity) {
  return routeGuard(prefix, security, (method, path) => matchManagementRoute(method, path)?.access, "admin");
}

/** The moleculer-web route (without its error handler, which the gateway adds). */
export function managementRoute(prefix: string, security: GatewaySecurity) {
  // SQuARE's client sends the model id as a JSON string body on remove and add/remove worker: a non-object JSON body is accepted (and ignored).
  const json = ApiGateway.bodyParser.json({ limit: "1mb", strict: false });
  return {
    path: prefix,
    mappingPolicy: "restrict" as const,
    mergeParams: false,
    aliases: Object.fromEntries(MANAGEMENT_ROUTES.flatMap((r) => r.methods.map((m) => [`${m} ${r.path}`, `api.${r.action}`]))),
    bodyParsers: false,
    use: [managementGuard(prefix, security), json as (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void],
    authentication: true,
    authorization: true,
  };
}

/**
 * The REST routes of SPEC §2, as data: moleculer-web aliases and the OpenAPI document are both
 * generated from this one table, so the documented paths are the served ones.
 */
import { TASK_NAMES, TaskName } from "../request/task-names.ts";
import type { Access } from "../auth/access.ts";
import { MANAGEMENT_ACCESS } from "./management-routes.ts";

export interface RouteSpec {
  method: "GET" | "POST";
  /** Path under the prefix, in moleculer-web alias syntax. */
  path: string;
  /** Action of the api service. */
  action: string;
  summary: string;
  task?: TaskName;
  /** Takes a `{model}` (the two id forms are two routes). */
  model?: boolean;
  body?: "task" | "update";
  /** Who may call it when auth is on (lib/auth/access.ts). */
  access: Access;
}

const modelForms = (rest: string) => [`:user/:id/${rest}`, `:id/${rest}`];

export const submitAction = (task: TaskName) => `submit-${task}`;

function modelRoutes(method: RouteSpec["method"], rest: string, action: string, summary: string, access: Access, extra: Partial<RouteSpec> = {}): RouteSpec[] {
  return modelForms(rest).map((path) => ({ method, path, action, summary, model: true, access, ...extra }));
}

export const ROUTES: readonly RouteSpec[] = Object.freeze([
  { method: "GET", path: "health/heartbeat", action: "heartbeat", summary: "Gateway heartbeat", access: "public" },
  { method: "GET", path: "models", action: "models", summary: "Deployed models, their tasks and replicas", access: "user" },
  { method: "GET", path: "openapi.json", action: "openapi", summary: "This document", access: "public" },
  { method: "GET", path: "docs", action: "docs", summary: "A page that renders this document", access: "public" },
  { method: "GET", path: "metrics", action: "metrics", summary: "Prometheus metrics: event-loop delay, memory, tasks per model", access: "admin" },
  { method: "GET", path: "task_result/:task_id", action: "taskResult", summary: "State or result of a task", access: "user" },
  ...modelRoutes("GET", "health/heartbeat", "modelHeartbeat", "Heartbeat of one model: ready replicas", "public"),
  ...modelRoutes("GET", "stats", "stats", "Model statistics", "user"),
  ...modelRoutes("POST", "update", "update", "Change model settings on every replica", "admin", { body: "update" }),
  ...TASK_NAMES.flatMap((task) => modelRoutes("POST", task, submitAction(task), `Queue a ${task.replace("-", " ")} task`, "user", { task, body: "task" })),
  ...modelRoutes("POST", "generation/stream", "streamGeneration", "Generate with the text streamed as server-sent events (token events, then the result)", "user", { task: "generation", body: "task" }),
  // Last, so that a model named "playground" keeps its own routes (the first match wins).
  { method: "GET", path: "playground", action: "playground", summary: "The playground: a page to run the deployed models and see their results (HTML)", access: "user" },
  { method: "GET", path: "playground/:asset", action: "playgroundAsset", summary: "The playground's script and style sheet", access: "user" },
]);

/** Access by action name; an action missing here needs an admin (fail closed). */
const ACCESS_BY_ACTION: ReadonlyMap<string, Access> = new Map([...ROUTES.map((r): [string, Access] => [r.action, r.access]), ...MANAGEMENT_ACCESS]);
export const accessOfAction = (action: string | undefined): Access => (action !== undefined ? ACCESS_BY_ACTION.get(action) : undefined) ?? "admin";

/**
 * The REST routes of SPEC §2, as data: moleculer-web aliases and the OpenAPI document are both
 * generated from this one table, so the documented paths are the served ones.
 */
import { TASK_NAMES, TaskName } from "../request/task-names.ts";

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
}

const modelForms = (rest: string) => [`:user/:id/${rest}`, `:id/${rest}`];

export const submitAction = (task: TaskName) => `submit-${task}`;

function modelRoutes(method: RouteSpec["method"], rest: string, action: string, summary: string, extra: Partial<RouteSpec> = {}): RouteSpec[] {
  return modelForms(rest).map((path) => ({ method, path, action, summary, model: true, ...extra }));
}

export const ROUTES: readonly RouteSpec[] = Object.freeze([
  { method: "GET", path: "health/heartbeat", action: "heartbeat", summary: "Gateway heartbeat" },
  { method: "GET", path: "models", action: "models", summary: "Deployed models, their tasks and replicas" },
  { method: "GET", path: "openapi.json", action: "openapi", summary: "This document" },
  { method: "GET", path: "docs", action: "docs", summary: "A page that renders this document" },
  { method: "GET", path: "metrics", action: "metrics", summary: "Prometheus metrics: event-loop delay, memory, tasks per model" },
  { method: "GET", path: "task_result/:task_id", action: "taskResult", summary: "State or result of a task" },
  ...modelRoutes("GET", "health/heartbeat", "modelHeartbeat", "Heartbeat of one model: ready replicas"),
  ...modelRoutes("GET", "stats", "stats", "Model statistics"),
  ...modelRoutes("POST", "update", "update", "Change model settings on every replica", { body: "update" }),
  ...TASK_NAMES.flatMap((task) => modelRoutes("POST", task, submitAction(task), `Queue a ${task.replace("-", " ")} task`, { task, body: "task" })),
]);

/**
 * The gateway's handlers for the model-manager routes (management-routes.ts): each reads the
 * route's id and number, calls the `management` service (the same actions Moleculer clients
 * call) and sets SQuARE's status codes.
 */
import type { Context } from "moleculer";
import { modelIdFromRoute } from "../request/model-id.ts";
import { invalid } from "../errors.ts";
import { taskResultResponse } from "./task-result.ts";
import type { TaskRecord } from "../store/task-store.ts";

type HttpContext = Context<{ body?: unknown; params: Record<string, string>; query: Record<string, unknown> }, { $statusCode?: number }>;

const idOf = (ctx: HttpContext): string => modelIdFromRoute(ctx.params.params as { user?: string; id: string }, ctx.params.query);

/** `{num}` of add_worker / remove_worker: a positive integer. */
function numOf(ctx: HttpContext): number {
  const text = ctx.params.params.num;
  const n = /^\d{1,6}$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1)) throw invalid(`the number of workers must be a positive integer, got "${text}"`, "num");
  return n;
}

export const managementActions = {
  mmHeartbeat: () => ({ is_alive: true }),
  mmDeployedModels: (ctx: HttpContext) => ctx.call("management.list"),
  mmWorkers: (ctx: HttpContext) => ctx.call("management.workers"),
  mmHealth: (ctx: HttpContext) => ctx.call("management.health"),
  mmExplainers: (ctx: HttpContext) => ctx.call("management.explainers"),
  mmPlacement: (ctx: HttpContext) => ctx.call("management.placement"),
  async mmDeploy(ctx: HttpContext) {
    const reply = await ctx.call("management.deploy", { body: ctx.params.body });
    ctx.meta.$statusCode = 202;
    return reply;
  },
  mmRemove: (ctx: HttpContext) => ctx.call("management.remove", { id: idOf(ctx) }),
  mmAddWorker: (ctx: HttpContext) => ctx.call("management.scale", { id: idOf(ctx), delta: numOf(ctx) }),
  mmRemoveWorker: (ctx: HttpContext) => ctx.call("management.scale", { id: idOf(ctx), delta: -numOf(ctx) }),
  mmUpdate: (ctx: HttpContext) => ctx.call("management.update", { id: idOf(ctx), update: ctx.params.body ?? {} }),
  async mmModelHealth(ctx: HttpContext) {
    const status = (await ctx.call("management.status", { id: idOf(ctx) })) as { replicas_ready: number };
    return { ...status, is_alive: status.replicas_ready > 0 };
  },
  async mmTaskResult(ctx: HttpContext) {
    const id = ctx.params.params.task_id;
    const { record, progress } = (await ctx.call("management.taskResult", { task_id: id })) as { record?: TaskRecord; progress?: unknown };
    const { status, body } = taskResultResponse(id, record);
    ctx.meta.$statusCode = status;
    return progress ? { ...body, progress } : body;
  },
};

interface PlacementView {
  decisions: { at: number; model: string; message: string }[];
  models: { identifier: string; state: string; replicas_wanted: number; replicas_ready: number; placed_on: string[]; unplaced?: string; declined: Record<string, string> }[];
}

/**
 * `/models` with each managed model's placement (wanted replicas, where, why not, its recent
 * decisions), and managed models that have no ready replica yet. Without a management service
 * in the cluster the list is as the registry has it.
 */
export async function withPlacement<T extends { id: string; replicas_ready: number }>(ctx: Context, models: T[]): Promise<(T | Record<string, unknown>)[]> {
  const view = await ctx.call<PlacementView, object>("management.placement", {}).catch(() => undefined);
  if (!view) return models;
  const placementOf = (m: PlacementView["models"][number]) => ({
    state: m.state,
    replicas_wanted: m.replicas_wanted,
    placed_on: m.placed_on,
    ...(m.unplaced ? { unplaced: m.unplaced } : {}),
    declined: m.declined,
    decisions: view.decisions.filter((d) => d.model === m.identifier).slice(-5),
  });
  const byId = new Map(view.models.map((m) => [m.identifier, m]));
  const listed = models.map((m) => (byId.has(m.id) ? { ...m, placement: placementOf(byId.get(m.id)!) } : m));
  const waiting = view.models.filter((m) => !models.some((x) => x.id === m.identifier)).map((m) => ({ id: m.identifier, tasks: [], replicas_ready: 0, replicas: [], placement: placementOf(m) }));
  return [...listed, ...waiting].sort((a, b) => String(a.id).localeCompare(String(b.id)));
}

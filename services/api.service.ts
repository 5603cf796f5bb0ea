/**
 * REST gateway (moleculer-web): SPEC §2 routes under the prefix. Validates requests against the
 * model's metadata from the Moleculer registry, hands tasks to the scheduler and reads results
 * straight from the task store (large arrays never ride in Moleculer messages).
 */
import type { ServiceSchema, Context } from "moleculer";
import type { IncomingMessage, ServerResponse } from "node:http";
import ApiGateway from "moleculer-web";
import type { ApiSettingsSchema } from "moleculer-web";
import type { Backends } from "../lib/backends.ts";
import { ROUTES, submitAction } from "../lib/gateway/routes.ts";
import { openApiDocument, docsPage } from "../lib/gateway/openapi.ts";
import { managementRoute } from "../lib/gateway/management-routes.ts";
import { managementActions, withPlacement } from "../lib/gateway/management-actions.ts";
import { playgroundPage, playgroundAsset, PLAYGROUND_CSP } from "../lib/gateway/playground.ts";
import { ModelDirectory, DeployedModel } from "../lib/gateway/model-directory.ts";
import { modelIdFromRoute } from "../lib/gateway/model-id.ts";
import { taskResultResponse } from "../lib/gateway/task-result.ts";
import type { TaskRecord } from "../lib/store/task-store.ts";
import { callEachReplica } from "../lib/gateway/replicas.ts";
import { storeCall } from "../lib/store/store-call.ts";
import { toErrorBody, notFound, unavailable, invalid } from "../lib/errors.ts";
import { TaskWaiters, parseWait } from "../lib/gateway/task-waiters.ts";
import { GatewayMetrics } from "../lib/gateway/metrics.ts";
import { validateRequest } from "../lib/validation/validate-request.ts";
import { parseModelUpdate, storedModelUpdate, ModelUpdate } from "../lib/config/model-settings.ts";
import type { RequestLimits, UpdateBounds } from "../lib/config/limits.ts";
import { modelServiceName } from "../lib/model/metadata.ts";
import { TASK_NAMES, TaskName, QUEUED_MESSAGE } from "../lib/tasks/task-names.ts";
import { accessOfAction } from "../lib/gateway/routes.ts";
import { methodsAt, pathUnder } from "../lib/gateway/route-match.ts";
import { authMiddleware, GuardedRequest } from "../lib/gateway/auth-middleware.ts";
import type { GatewaySecurity } from "../lib/auth/security.ts";
import { statsForNonAdmin } from "../lib/gateway/stats-view.ts";
import { ANONYMOUS, Identity, isAdmin, maySeeTask, ownerOf } from "../lib/auth/identity.ts";
import { requireAccess } from "../lib/auth/access.ts";
import { challenge, AuthError } from "../lib/auth/errors.ts";
import { setSecurityHeaders, DOCS_CSP } from "../lib/auth/security-headers.ts";
import { setCorsHeaders, answerOptions } from "../lib/auth/cors.ts";
import { randomUUID } from "node:crypto";
import type { Readable } from "node:stream";
import { sseStream, isEventStream, sendEventStream } from "../lib/gateway/sse.ts";
import { readEvents } from "../lib/orchestration/event-stream.ts";

export interface GatewayOptions {
  backends: Backends;
  port: number;
  /** Address to bind (`--host`). */
  host: string;
  /** Authentication, roles, rate limits, CORS (lib/auth). */
  security: GatewaySecurity;
  prefix: string;
  bodyLimit: string;
  version: string;
  /** Text per item and per request, items per request (checked before anything is tokenized). */
  limits: RequestLimits;
  /** The largest values `update` may set. */
  bounds: UpdateBounds;
  /** Route prefix of the model-manager routes (lib/gateway/management-routes.ts); default /api/models. */
  modelsPrefix?: string;
}

interface HttpParams {
  body?: unknown;
  params: Record<string, string>;
  query: Record<string, unknown>;
}

type HttpContext = Context<HttpParams, { $statusCode?: number; $responseType?: string; $responseHeaders?: Record<string, string>; user?: Identity | null }>;

interface GatewayThis {
  directory: ModelDirectory;
  waiters: TaskWaiters;
  metrics: GatewayMetrics;
  broker: { registry: ConstructorParameters<typeof ModelDirectory>[0] & Parameters<typeof callEachReplica>[1] };
  logger: { warn(...a: unknown[]): void; error(...a: unknown[]): void };
  requireModel(ctx: HttpContext): Promise<DeployedModel>;
  awaitRecord(id: string, wait: number, identity: Identity): Promise<TaskRecord | undefined>;
  /** An update from the store or an event, within this gateway's bounds. */
  noteUpdate(model: string, update: unknown): void;
}

// Moleculer 0.15 types every action, method and lifecycle handler with the service as `this`
// (the 4th type parameter); the gateway's handlers use the fields `created` sets up.
export function apiService({ backends, port, host, security, prefix, bodyLimit, version, limits, bounds, modelsPrefix = "/api/models" }: GatewayOptions): ServiceSchema<ApiSettingsSchema, Record<string, unknown>, Record<string, unknown>, GatewayThis> {
  const aliases = Object.fromEntries(ROUTES.map((r) => [`${r.method} ${r.path}`, `api.${r.action}`]));

  const submit = (task: TaskName) => ({
    async handler(this: GatewayThis, ctx: HttpContext) {
      const model = await this.requireModel(ctx);
      const request = validateRequest(ctx.params.body, task, model.meta, limits);
      const identity = identityOf(ctx);
      const wait = waitOf(ctx);
      await storeCall(() => security.limiter.take(identity, { requests: 0, items: itemCount(request) }));
      const { task_id } = await ctx.call<{ task_id: string }, object>("scheduler.submit", { model: model.meta.id, task, request, maxQueue: model.meta.maxQueue, owner: ownerOf(identity) });
      this.metrics.noteSubmitted(model.meta.id);
      const queued = { message: QUEUED_MESSAGE[task], task_id };
      if (wait === 0) return queued;
      // Beyond SQuARE: `?wait=S` answers with the task's result when it ends within S seconds
      // (one HTTP exchange instead of two); otherwise 202, and the task_id polls as usual.
      const { status, body } = taskResultResponse(task_id, await this.awaitRecord(task_id, wait, identity));
      ctx.meta.$statusCode = status;
      return { ...queued, ...body };
    },
  });

  return {
    name: "api",
    mixins: [ApiGateway],
    settings: {
      port,
      ip: host,
      routes: [
        {
          path: prefix,
          mappingPolicy: "restrict",
          mergeParams: false,
          aliases,
          bodyParsers: false,
          // Authentication, roles and request rate come before the body is read.
          use: [authMiddleware(prefix, security), jsonBodyParser(bodyLimit)],
          authentication: true,
          authorization: true,
          onError: sendError,
        },
        { ...managementRoute(modelsPrefix, security), onError: sendError },
      ],
      onError: sendError,
      log4XXResponses: false,
      // One line per request at info is noise for an inference server; debug keeps it available.
      logRequest: "debug",
      logResponse: "debug",
      logRouteRegistration: "debug",
    },
    created() {
      const self = this as unknown as GatewayThis;
      self.directory = new ModelDirectory(self.broker.registry);
      self.waiters = new TaskWaiters();
      self.metrics = new GatewayMetrics();
    },
    stopped() {
      (this as unknown as GatewayThis).metrics.stop();
    },
    events: {
      "task.finished"(this: GatewayThis, ctx: Context<{ task_id: string; model?: string; state?: string }>) {
        this.waiters.notify(ctx.params.task_id);
        this.metrics.noteFinished(ctx.params.model, ctx.params.state);
      },
      "model.updated"(this: GatewayThis, ctx: Context<{ model: string; update: ModelUpdate }>) {
        this.noteUpdate(ctx.params.model, ctx.params.update);
      },
    },
    methods: {
      /** Security headers and CORS on every response; OPTIONS answered before routing and authentication. */
      httpHandler(this: GatewayThis, req: IncomingMessage, res: ServerResponse, next?: unknown) {
        setSecurityHeaders(res);
        setCorsHeaders(security.corsOrigins, req, res);
        if (req.method === "OPTIONS") return answerOptionsAt(prefix, security.corsOrigins, req, res);
        return (ApiGateway.methods as { httpHandler: (...a: unknown[]) => unknown }).httpHandler.call(this, req, res, next);
      },
      /** moleculer-web's hook: the identity authMiddleware established (none on public routes). */
      authenticate(_ctx: HttpContext, _route: unknown, req: GuardedRequest) {
        return req.$identity ?? null;
      },
      /** moleculer-web's hook, on the action it resolved: a second check that no route escapes the guard. */
      authorize(ctx: HttpContext, _route: unknown, req: IncomingMessage & { $action?: { rawName?: string } }) {
        requireAccess(ctx.meta.user, accessOfAction(req.$action?.rawName), security.policy);
      },
      /** Event streams (generation/stream) are sent here; everything else as moleculer-web sends it. */
      sendResponse(this: GatewayThis, req: IncomingMessage, res: ServerResponse, data: unknown, action: unknown) {
        if (isEventStream(data)) return sendEventStream(res, data);
        return (ApiGateway.methods as { sendResponse: (...a: unknown[]) => unknown }).sendResponse.call(this, req, res, data, action);
      },
      /** Replaces moleculer-web's handler, which logs stack traces: one line, no internals (SPEC §12). */
      errorHandler(this: GatewayThis, req: IncomingMessage, res: ServerResponse, err: Error) {
        const { status } = toErrorBody(err as never);
        if (status >= 500) {
          const cause = (err as { cause?: Error }).cause;
          const why = cause ? ` (cause: ${cause.name}: ${cause.message})` : "";
          this.logger[status === 500 ? "error" : "warn"](`${req.method} ${req.url} → ${status}: ${err.name}: ${err.message}${why}`);
        }
        sendError(req, res, err);
      },
      noteUpdate(this: GatewayThis, model: string, update: unknown) {
        this.directory.noteUpdate(model, storedModelUpdate(update, bounds, (m) => this.logger.warn(m), model));
      },
      /**
       * The task's record once it has ended, or as it is after `wait` seconds (0: at once); woken
       * by `task.finished`. Another identity's task reads as unknown (404, not 403): ids do not leak (SPEC §4).
       */
      async awaitRecord(this: GatewayThis, id: string, wait: number, identity: Identity): Promise<TaskRecord | undefined> {
        const read = () => storeCall(() => backends.store.get(id)).then((r) => (r && maySeeTask(identity, security.policy, r.owner) ? r : undefined));
        if (wait <= 0) return read();
        // Registered before the read, so an end between the two still wakes it: two reads at most.
        const mine = new AbortController();
        const woken = this.waiters.wait(id, wait * 1000, mine.signal);
        const record = await read();
        if (record?.state !== "queued" && record?.state !== "running") {
          mine.abort(); // only this waiter: others of the same task keep waiting
          return record;
        }
        await woken;
        return read();
      },
      async requireModel(this: GatewayThis, ctx: HttpContext): Promise<DeployedModel> {
        const id = modelIdFromRoute(ctx.params.params as { user?: string; id: string }, ctx.params.query);
        let model = this.directory.find(id);
        // Updates made before this gateway started are read once per deployed model from the
        // store (not for arbitrary ids, which would grow the map); later ones arrive as events.
        if (model && !this.directory.hasLoadedUpdates(id)) {
          this.noteUpdate(id, await storeCall(() => backends.store.getModelUpdate(id)));
          model = this.directory.find(id);
        }
        if (model) return model;
        if (await storeCall(() => backends.store.isKnownModel(id))) throw unavailable(`model ${id} has no ready replica (loading, or every replica is down)`);
        throw notFound(`model ${id} is not deployed`);
      },
    },
    actions: {
      heartbeat: () => ({ is_alive: true }),
      models(this: GatewayThis, ctx: HttpContext) {
        return withPlacement(ctx, this.directory.list().map((m) => ({
          id: m.meta.id,
          tasks: m.meta.tasks,
          max_input: m.meta.maxInput,
          adapters: m.meta.adapters ?? [],
          replicas_ready: m.replicas.length,
          replicas: m.replicas,
        })));
      },
      openapi: () => openApiDocument(prefix, version, bounds),
      /** This gateway's metrics and, unless `?scope=gateway`, every replica's (lib/gateway/metrics.ts collectCluster). */
      async metrics(this: GatewayThis, ctx: HttpContext) {
        const cluster = ctx.params.query.scope === "gateway" ? undefined : await this.metrics.collectCluster({
          models: this.directory.list().map((m) => ({ id: m.meta.id, nodes: [...new Set(m.replicas.map((r) => r.node))] })),
          queueDepth: (model) => backends.queue.depth(model),
          replicaSnapshot: (model, nodeID) => ctx.call(`${modelServiceName(model)}.metrics`, {}, { nodeID, timeout: METRICS_CALL_TIMEOUT_MS }),
        });
        ctx.meta.$responseType = this.metrics.contentType;
        return this.metrics.render(cluster);
      },
      docs(ctx: HttpContext) {
        ctx.meta.$responseType = "text/html; charset=utf-8";
        ctx.meta.$responseHeaders = { "Content-Security-Policy": DOCS_CSP };
        return docsPage(prefix);
      },
      /** The playground page (web/playground, built by `npm run build`): its CSP allows only itself. */
      async playground(ctx: HttpContext) {
        const page = await playgroundPage(prefix);
        ctx.meta.$responseType = "text/html; charset=utf-8";
        ctx.meta.$responseHeaders = { "Content-Security-Policy": PLAYGROUND_CSP };
        return page;
      },
      async playgroundAsset(ctx: HttpContext) {
        const { type, body } = await playgroundAsset(ctx.params.params.asset);
        ctx.meta.$responseType = type;
        ctx.meta.$responseHeaders = { "Content-Security-Policy": PLAYGROUND_CSP };
        return body;
      },
      /** `?wait=S` long-polls: answers as soon as the task ends (woken by `task.finished`), or after S seconds. */
      async taskResult(this: GatewayThis, ctx: HttpContext) {
        const id = ctx.params.params.task_id;
        const { status, body } = taskResultResponse(id, await this.awaitRecord(id, waitOf(ctx), identityOf(ctx)));
        ctx.meta.$statusCode = status;
        return body;
      },
      async modelHeartbeat(this: GatewayThis, ctx: HttpContext) {
        try {
          const model = await this.requireModel(ctx);
          return { is_alive: true, replicas: model.replicas.length };
        } catch (err) {
          if ((err as { type?: string }).type !== "unavailable") throw err;
          ctx.meta.$statusCode = 503;
          return { is_alive: false, replicas: 0 };
        }
      },
      /** Replicas read their queue depth through storeCall: with the store down they answer 503, as every route does. */
      async stats(this: GatewayThis, ctx: HttpContext) {
        const model = await this.requireModel(ctx);
        const stats = mergeReplicaStats(await callEachReplica<Record<string, unknown>>(ctx, this.broker.registry, `${modelServiceName(model.meta.id)}.stats`, {}));
        return isAdmin(identityOf(ctx), security.policy) ? stats : statsForNonAdmin(stats);
      },
      async update(this: GatewayThis, ctx: HttpContext) {
        const model = await this.requireModel(ctx);
        const update = parseModelUpdate(ctx.params.body, bounds);
        // The scheduler and the replicas reach the store through storeCall: an outage is already a 503.
        const replies = await ctx.call<Record<string, unknown>[], object>("scheduler.updateModel", { model: model.meta.id, update });
        this.noteUpdate(model.meta.id, update);
        return mergeReplicaStats(replies);
      },
      ...Object.fromEntries(TASK_NAMES.map((t) => [submitAction(t), submit(t)])),
      /**
       * SPEC §6.5 streaming: the request is checked here like any other, then a replica runs it
       * as a stream (its `generation_stream` action) that this turns into server-sent events. A
       * client that goes away stops the generation on the replica.
       */
      async streamGeneration(this: GatewayThis, ctx: HttpContext) {
        const model = await this.requireModel(ctx);
        const request = validateRequest(ctx.params.body, "generation", model.meta, limits);
        await storeCall(() => security.limiter.take(identityOf(ctx), { requests: 0, items: itemCount(request) }));
        const streamId = randomUUID();
        const source = await ctx.call<Readable, object>(`${modelServiceName(model.meta.id)}.generation_stream`, { ...request, stream_id: streamId });
        return sseStream(readEvents(source), streamId, () => {
          source.destroy();
          void ctx.broadcast("generation.cancel", { stream_id: streamId });
        });
      },
      ...managementActions,
    },
  };
}

/** How long /metrics waits for one replica's snapshot before leaving it out. */
const METRICS_CALL_TIMEOUT_MS = 5000;

/** Content encodings a JSON body may come in: those moleculer-web 0.10's body-parser 1 inflated. */
const BODY_ENCODINGS = new Set(["identity", "gzip", "deflate"]);

/**
 * moleculer-web's JSON body parser, limited to identity, gzip and deflate bodies. The body-parser 2
 * of moleculer-web 0.11 also inflates br and zstd (and answers corrupt data in those with a 500);
 * any other encoding of a body it would parse is refused before reading, with body-parser's own
 * "encoding.unsupported" error, as body-parser 1 did.
 */
function jsonBodyParser(limit: string) {
  const json = ApiGateway.bodyParser.json({ limit });
  return (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void): void => {
    const encoding = String(req.headers["content-encoding"] ?? "identity").toLowerCase();
    const hasBody = req.headers["transfer-encoding"] !== undefined || !Number.isNaN(Number.parseInt(req.headers["content-length"] ?? "", 10));
    const isJson = String(req.headers["content-type"] ?? "").split(";")[0].trim().toLowerCase() === "application/json";
    if (hasBody && isJson && !BODY_ENCODINGS.has(encoding)) {
      next(Object.assign(new Error(`unsupported content encoding "${encoding}"`), { status: 415, statusCode: 415, type: "encoding.unsupported", encoding }));
      return;
    }
    json(req, res, next);
  };
}

/** One ModelStatistics with every replica's entry. */
function mergeReplicaStats(replies: Record<string, unknown>[]): Record<string, unknown> {
  if (replies.length === 0) throw notFound("model has no running replica");
  return { ...replies[0], replicas: replies.flatMap((r) => (r.replicas as unknown[]) ?? []) };
}

/** The identity the guard established; ANONYMOUS only with `--auth none` (the guard admits no one else without one). */
function identityOf(ctx: HttpContext): Identity {
  return ctx.meta.user ?? ANONYMOUS;
}

/** `?wait=S` of a POST or a task_result read, checked (a 422 naming the query parameter `query.wait`). */
function waitOf(ctx: HttpContext): number {
  const wait = parseWait(ctx.params.query.wait);
  if (typeof wait === "string") throw invalid(wait, "query.wait");
  return wait;
}

/** Items a request carries, for the items-per-minute limit. */
function itemCount(request: { input: unknown[] | { input_ids: unknown[] } }): number {
  return Array.isArray(request.input) ? request.input.length : request.input.input_ids.length;
}

function answerOptionsAt(prefix: string, origins: string[], req: IncomingMessage, res: ServerResponse): void {
  const path = pathUnder(prefix, req.url ?? "");
  const methods = path !== undefined ? methodsAt(path) : [];
  if (methods.length === 0) return sendError(req, res, notFound("no such route"));
  answerOptions(origins, req, res, methods);
}

function sendError(_req: IncomingMessage, res: ServerResponse, err: Error): void {
  const { status, body } = toErrorBody(err as never);
  const auth = err as AuthError;
  if (status === 401) res.setHeader("WWW-Authenticate", auth.wwwAuthenticate ?? challenge());
  if (status === 429 || (status === 503 && auth.retryAfterS !== undefined)) res.setHeader("Retry-After", String(auth.retryAfterS ?? 1));
  res.setHeader("Content-Type", "application/json; charset=utf-8");
  res.writeHead(status);
  res.end(JSON.stringify(body));
}

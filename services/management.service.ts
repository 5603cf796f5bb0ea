/**
 * Model management (issue #15): desired state in the deployment store, changed only through
 * these actions (and the REST routes that call them); a placement loop, run by whichever
 * scheduler node holds the leader lease, assigns model actors to the live model nodes and
 * finishes deploy, scale and remove tasks. Model nodes act on the placement (agent.service.ts).
 */
import { SerialRounds } from "../lib/management/serial-rounds.ts";
import type { ServiceSchema, ServiceSettingSchema, Context } from "moleculer";
import { randomUUID } from "node:crypto";
import type { Backends } from "../lib/backends.ts";
import type { UpdateBounds } from "../lib/config/limits.ts";
import { parseModelUpdate } from "../lib/config/model-settings.ts";
import type { Deployment, ManagementTaskKind, Placement } from "../lib/store/deployment-store.ts";
import type { TaskRecord } from "../lib/store/task-store.ts";
import { parseDeployRequest, MAX_REPLICAS } from "../lib/management/deploy-request.ts";
import { inspectModelFolder, checkFolderName, type ModelFolderInfo } from "../lib/management/models-root.ts";
import { replicaNodes } from "../lib/gateway/replicas.ts";
import { place } from "../lib/management/placement.ts";
import { pendingOutcome } from "../lib/management/progress.ts";
import { deployedModelView, deploymentStatus, readyReplicas } from "../lib/management/views.ts";
import { EXPLAINERS } from "../lib/management/explainers.ts";
import { ModelDirectory, type RegistryLike } from "../lib/gateway/model-directory.ts";
import { checkModelId } from "../lib/request/model-id.ts";
import { storeCall } from "../lib/store/store-call.ts";
import { conflict, invalid, notFound, unavailable } from "../lib/errors.ts";

export interface ManagementOptions {
  backends: Backends;
  bounds: UpdateBounds;
  /** This node's models root; without one, folders are checked by a model node (`modelAgent.inspect`). */
  modelsRoot?: string;
  leaseMs: number;
}

/** How long a model node may take to check a deploy folder for a node without a models root. */
const INSPECT_TIMEOUT_MS = 10_000;

/** Decisions kept in the placement record (and shown in /models). */
const KEPT_DECISIONS = 50;

interface ManagementThis {
  broker: { nodeID: string; registry: RegistryLike; broadcast(event: string, payload?: unknown): Promise<void> };
  logger: { info(...a: unknown[]): void; warn(...a: unknown[]): void };
  tick(): Promise<void>;
  timer?: NodeJS.Timeout;
}

export function managementService({ backends, bounds, modelsRoot, leaseMs }: ManagementOptions): ServiceSchema<ServiceSettingSchema, Record<string, unknown>, Record<string, unknown>, ManagementThis> {
  const { deployments, store, queue } = backends;
  const rounds = new SerialRounds();
  const tickMs = Math.max(100, Math.round(leaseMs / 5));

  const get = async (id: string): Promise<Deployment> => {
    checkModelId(id);
    const d = await storeCall(() => deployments.get(id));
    if (!d) throw notFound(`model ${id} is not deployed through model management`);
    return d;
  };

  /** A new task record; the deployment's earlier pending task, if any, ends as superseded. */
  const openTask = async (d: Deployment, kind: ManagementTaskKind): Promise<string> => {
    const id = randomUUID();
    const now = Date.now();
    if (d.pending) await storeCall(() => store.complete(d.pending!.task_id, { success: true, identifier: d.id, message: `superseded by ${kind} task ${id}` }, {}));
    await storeCall(() => store.create({ id, model: d.id, task: kind, state: "queued", created_at: now, updated_at: now, attempts: 0 } as TaskRecord));
    d.pending = { task_id: id, kind };
    return id;
  };

  async function inspect(ctx: Context, registry: ManagementThis["broker"]["registry"], folder: string): Promise<ModelFolderInfo> {
    checkFolderName(folder);
    if (modelsRoot) return inspectModelFolder(modelsRoot, folder);
    // A node whose lease is live and that this node's registry knows: the registry may still list a node killed moments ago.
    const known = new Set(replicaNodes(registry as unknown as Parameters<typeof replicaNodes>[0], "modelAgent.inspect"));
    const agents = (await storeCall(() => deployments.liveAgents())).filter((a) => known.has(a.node));
    if (agents.length === 0) throw unavailable("no model node is running to check the model folder (this node has no --models-root); retry when one is");
    const nodeID = agents[Math.floor(Math.random() * agents.length)].node;
    return ctx.call<ModelFolderInfo, object>("modelAgent.inspect", { folder }, { nodeID, timeout: INSPECT_TIMEOUT_MS });
  }

  const changed = (broker: ManagementThis["broker"]) => void broker.broadcast("management.changed").catch(() => undefined);

  return {
    name: "management",
    actions: {
      /** SQuARE's deployed-models list; models that nodes run from their models files are included (source "node-config"). */
      list: {
        async handler(this: ManagementThis) {
          const [all, agents] = await storeCall(() => Promise.all([deployments.list(), deployments.liveAgents()]));
          const managed = all.sort((a, b) => a.id.localeCompare(b.id)).map((d) => deployedModelView(d, readyReplicas(d, agents).length));
          const known = new Set(all.map((d) => d.id));
          // Registry entries of removed models (a killed node lingers until its heartbeat times out) are not listed.
          const fromRegistry = new ModelDirectory(this.broker.registry).list().filter((m) => !known.has(m.meta.id));
          const registered = await storeCall(() => Promise.all(fromRegistry.map((m) => store.isKnownModel(m.meta.id))));
          const configured = fromRegistry.filter((_, i) => registered[i]).map((m) => ({
            identifier: m.meta.id, model_type: "onnx", model_name: m.meta.id, disable_gpu: !m.replicas.some((r) => r.device.startsWith("cuda")), batch_size: undefined, max_input: m.meta.maxInput,
            model_class: "from_config", return_plaintext_arrays: undefined, replicas: m.replicas.length, replicas_ready: m.replicas.length, state: "active", source: "node-config",
          }));
          return [...managed, ...configured];
        },
      },
      workers: {
        async handler(this: ManagementThis, ctx: Context) {
          const list = (await ctx.call("management.list")) as { identifier: string; replicas_ready: number }[];
          return list.map((m) => ({ identifier: m.identifier, num_containers: m.replicas_ready }));
        },
      },
      health: {
        async handler(this: ManagementThis, ctx: Context) {
          const list = (await ctx.call("management.list")) as { identifier: string; replicas_ready: number }[];
          return list.map((m) => ({ identifier: m.identifier, is_alive: m.replicas_ready > 0 }));
        },
      },
      /** One deployment: wanted and ready replicas, where, and why some are missing. */
      status: {
        params: { id: "string" },
        async handler(ctx: Context<{ id: string }>) {
          const d = await get(ctx.params.id);
          const [agents, placement] = await storeCall(() => Promise.all([deployments.liveAgents(), deployments.getPlacement()]));
          return deploymentStatus(d, agents, placement);
        },
      },
      /** The placement and every deployment's status (the gateway's /models shows it). */
      placement: {
        async handler() {
          const [all, agents, placement] = await storeCall(() => Promise.all([deployments.list(), deployments.liveAgents(), deployments.getPlacement()]));
          return { leader: placement.leader, at: placement.at, decisions: placement.decisions, nodes: agents.map((a) => ({ node: a.node, devices: a.devices, slots: a.slots, actors: a.actors.length })), models: all.map((d) => deploymentStatus(d, agents, placement)) };
        },
      },
      explainers: () => EXPLAINERS,
      deploy: {
        params: { body: "any" },
        async handler(this: ManagementThis, ctx: Context<{ body: unknown }>) {
          const parsed = parseDeployRequest(ctx.params.body, bounds, Date.now());
          if (await storeCall(() => deployments.get(parsed.id))) throw conflict(`a model with identifier ${parsed.id} already exists; remove it first, or update it`);
          if (new ModelDirectory(this.broker.registry).find(parsed.id) && (await storeCall(() => store.isKnownModel(parsed.id)))) throw conflict(`a model with identifier ${parsed.id} already runs from a node's models file`);
          const folder = await inspect(ctx, this.broker.registry, parsed.folder);
          const d: Deployment = { ...parsed, bytes: folder.bytes };
          const taskId = await openTask(d, "deploy");
          if (!(await storeCall(() => deployments.create(d)))) {
            await storeCall(() => store.fail(taskId, { type: "conflict", message: `a model with identifier ${d.id} already exists` }));
            throw conflict(`a model with identifier ${d.id} already exists; remove it first, or update it`);
          }
          await storeCall(() => store.registerModel(d.id));
          this.logger.info(`deploy ${d.id}: folder ${d.folder}, ${d.replicas} replica(s), ${d.device} (task ${taskId})`);
          changed(this.broker);
          return { message: `Queued deploying ${d.id}`, task_id: taskId };
        },
      },
      /** Stops taking tasks for the model, lets its queue drain, stops its actors, then forgets it. */
      remove: {
        params: { id: "string" },
        async handler(this: ManagementThis, ctx: Context<{ id: string }>) {
          const d = await get(ctx.params.id);
          const taskId = await openTask(d, "remove");
          d.state = "removing";
          d.updated_at = Date.now();
          await storeCall(() => deployments.save(d));
          this.logger.info(`remove ${d.id}: draining (task ${taskId})`);
          changed(this.broker);
          return { message: `Queued removing ${d.id}`, task_id: taskId };
        },
      },
      /** add_worker (delta > 0) and remove_worker (delta < 0). */
      scale: {
        params: { id: "string", delta: "number" },
        async handler(this: ManagementThis, ctx: Context<{ id: string; delta: number }>) {
          const d = await get(ctx.params.id);
          if (d.state === "removing") throw conflict(`model ${d.id} is being removed`);
          const replicas = d.replicas + ctx.params.delta;
          if (!Number.isInteger(ctx.params.delta) || ctx.params.delta === 0) throw invalid("the number of workers must be a non-zero integer", "num");
          if (replicas < 1) throw invalid(`${d.id} has ${d.replicas} replica(s); removing ${-ctx.params.delta} would leave none (remove the model instead)`, "num");
          if (replicas > MAX_REPLICAS) throw invalid(`${d.id} would have ${replicas} replicas; at most ${MAX_REPLICAS}`, "num");
          const taskId = await openTask(d, "scale");
          d.replicas = replicas;
          d.updated_at = Date.now();
          await storeCall(() => deployments.save(d));
          this.logger.info(`scale ${d.id} to ${replicas} replica(s) (task ${taskId})`);
          changed(this.broker);
          return { message: `Queued scaling ${d.id} to ${replicas} replica(s)`, task_id: taskId, replicas };
        },
      },
      /** SQuARE's update: the record changes (new actors start with it) and every running replica applies it. */
      update: {
        params: { id: "string", update: "any" },
        async handler(ctx: Context<{ id: string; update: unknown }>) {
          const d = await get(ctx.params.id);
          const update = parseModelUpdate(ctx.params.update, bounds);
          d.options = { ...d.options, ...update };
          if (update.disable_gpu !== undefined) d.device = update.disable_gpu ? "cpu" : "any";
          d.updated_at = Date.now();
          await storeCall(() => deployments.save(d));
          const agents = await storeCall(() => deployments.liveAgents());
          if (readyReplicas(d, agents).length === 0) {
            await storeCall(() => store.saveModelUpdate(d.id, update));
            return { ...deployedModelView(d, 0), replicas_stats: [] };
          }
          const replies = await ctx.call<Record<string, unknown>[], object>("scheduler.updateModel", { model: d.id, update });
          return { ...deployedModelView(d, replies.length), replicas_stats: replies.flatMap((r) => (r.replicas as unknown[]) ?? []) };
        },
      },
      /** A management task's record (deploy, scale, remove) with the deployment's progress while it runs. */
      taskResult: {
        params: { task_id: "string" },
        async handler(ctx: Context<{ task_id: string }>) {
          const record = await storeCall(() => store.get(ctx.params.task_id));
          if (!record || !["deploy", "scale", "remove"].includes(record.task)) return { record: undefined };
          const d = await storeCall(() => deployments.get(record.model));
          if (!d || (record.state !== "queued" && record.state !== "running")) return { record };
          const [agents, placement] = await storeCall(() => Promise.all([deployments.liveAgents(), deployments.getPlacement()]));
          return { record, progress: deploymentStatus(d, agents, placement) };
        },
      },
    },
    events: {
      "management.changed"(this: ManagementThis) {
        void this.tick();
      },
      "$node.disconnected"(this: ManagementThis) {
        void this.tick();
      },
    },
    methods: {
      /** One placement round, if this node leads. Rounds never overlap; a request during one runs right after. */
      async tick(this: ManagementThis) {
        await rounds
          .run(async () => {
            // task.finished without a model: gateways waiting on the task wake; no model's task count changes.
            const notify = (taskId: string) => void this.broker.broadcast("task.finished", { task_id: taskId }).catch(() => undefined);
            // A deploy is finished when this node's registry lists the replicas too: requests are then routed to them.
            const directory = new ModelDirectory(this.broker.registry);
            const routable = (model: string) => new Set(directory.find(model)?.replicas.map((r) => r.node) ?? []);
            await placementRound(this.broker.nodeID, (m) => this.logger.info(m), notify, routable);
          })
          .catch((err: Error) => this.logger.warn(`placement: ${err.message}; retrying`));
      },
    },
    started(this: ManagementThis) {
      this.timer = setInterval(() => void this.tick(), tickMs);
      void this.tick();
    },
    stopped(this: ManagementThis) {
      clearInterval(this.timer);
    },
  };

  async function placementRound(me: string, log: (m: string) => void, notify: (taskId: string) => void, routable: (model: string) => Set<string>): Promise<void> {
    if (!(await deployments.lead(me, leaseMs))) return;
    const [all, agents, previous] = await Promise.all([deployments.list(), deployments.liveAgents(), deployments.getPlacement()]);
    const queueDepth: Record<string, number> = {};
    for (const d of all) if (d.state === "removing") queueDepth[d.id] = await queue.depth(d.id);
    const result = place({ deployments: all, agents, previous: previous.assignments, queueDepth });
    const now = Date.now();
    for (const decision of result.decisions) log(`placement: ${decision.message}`);
    const placement: Placement = {
      assignments: result.assignments,
      unplaced: result.unplaced,
      decisions: [...previous.decisions, ...result.decisions.map((x) => ({ ...x, at: now }))].slice(-KEPT_DECISIONS),
      leader: me,
      at: now,
    };
    if (JSON.stringify(placement.assignments) !== JSON.stringify(previous.assignments) || JSON.stringify(placement.unplaced) !== JSON.stringify(previous.unplaced) || result.decisions.length || previous.leader !== me) {
      await deployments.savePlacement(placement);
    }
    for (const d of all) {
      const ended = await settle(d, agents, placement, queueDepth[d.id] ?? 0, log, routable(d.id));
      if (ended) notify(ended);
    }
  }

  /** Finishes what a deployment's pending task waits for, and forgets a drained removed model; returns the task it ended. */
  async function settle(d: Deployment, agents: Awaited<ReturnType<typeof deployments.liveAgents>>, placement: Placement, depth: number, log: (m: string) => void, routable: Set<string>): Promise<string | undefined> {
    if (d.state === "removing") {
      const running = agents.some((a) => a.actors.some((x) => x.model === d.id));
      if (depth > 0 || running || (placement.assignments[d.id] ?? []).length > 0) return undefined;
      await deployments.delete(d.id);
      await store.forgetModel(d.id);
      if (d.pending) await store.complete(d.pending.task_id, { success: true, identifier: d.id, message: `removed ${d.id}` }, {});
      log(`removed ${d.id}: drained, actors stopped`);
      return d.pending?.task_id;
    }
    const status = deploymentStatus(d, agents, placement);
    status.ready = status.ready.filter((r) => routable.has(r.node));
    status.replicas_ready = status.ready.length;
    const outcome = pendingOutcome(d, status, agents);
    if (outcome.kind === "waiting" || !d.pending) return undefined;
    if (outcome.kind === "done") await store.complete(d.pending.task_id, outcome.result, {});
    else await store.fail(d.pending.task_id, { type: "invalid_request", message: outcome.message });
    log(`${d.pending.kind} ${d.id}: ${outcome.kind === "done" ? outcome.result.message : outcome.message}`);
    // Saved only if the record did not change meanwhile (a newer task would be lost otherwise).
    const current = await deployments.get(d.id);
    if (current && current.pending?.task_id === d.pending.task_id) {
      delete current.pending;
      await deployments.save(current);
    }
    return d.pending.task_id;
  }
}

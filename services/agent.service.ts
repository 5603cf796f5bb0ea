/**
 * A model node's agent (issue #15): advertises the node (devices, free slots, memory budget,
 * the actors it runs, the deployments it declines and why) under a lease in the deployment
 * store, and starts and stops model actors to match the placement. A folder it cannot read, or a
 * model that fails to load, is declined with the reason, so placement tries another node.
 */
import { SerialRounds } from "../lib/management/serial-rounds.ts";
import type { ServiceSchema, ServiceSettingSchema, Context } from "moleculer";
import type Moleculer from "moleculer";
import { join } from "node:path";
import type { Deployment, AgentReport, ActorReport } from "../lib/store/deployment-store.ts";
import { deploymentKey } from "../lib/store/deployment-store.ts";
import { planAgent } from "../lib/management/agent-plan.ts";
import { inspectModelFolder } from "../lib/management/models-root.ts";
import { withModelDefaults } from "../lib/config/model-settings.ts";
import { startModelActor, type ActorContext, type Device } from "./model-actor.ts";

export interface AgentOptions extends ActorContext {
  modelsRoot: string;
  /** This node's devices, each with its name (cpu, cuda:0). */
  devices: { device: Device; label: string }[];
  slots: number;
  memoryBudget?: number;
  leaseMs: number;
}

interface Actor extends ActorReport {
  service?: Moleculer.Service;
  /** Settles when loading has ended (either way). */
  loading: Promise<void>;
}

interface AgentThis {
  broker: Moleculer.ServiceBroker;
  logger: { info(...a: unknown[]): void; warn(...a: unknown[]): void };
  tick(): Promise<void>;
  timer?: NodeJS.Timeout;
  stopping?: boolean;
}

export function agentService(options: AgentOptions): ServiceSchema<ServiceSettingSchema, Record<string, unknown>, Record<string, unknown>, AgentThis> {
  const { backends, modelsRoot, devices, slots, memoryBudget, leaseMs } = options;
  const actors = new Map<string, Actor>();
  const declined: Record<string, string> = {};
  const rounds = new SerialRounds();
  const tickMs = Math.max(100, Math.round(leaseMs / 5));

  const cpu = { device: { kind: "cpu", id: 0 } as Device, label: "cpu" };
  const deviceFor = (d: Deployment) => (d.device === "any" ? devices.find((x) => x.device.kind === "cuda") : undefined) ?? cpu;

  const report = (node: string): Promise<void> => {
    const r: AgentReport = {
      node,
      devices: devices.map((d) => d.label),
      slots,
      ...(memoryBudget !== undefined ? { memoryBudget } : {}),
      actors: [...actors.values()].map(({ model, deployment, state, device }) => ({ model, deployment, state, device })),
      declined: { ...declined },
      at: Date.now(),
    };
    return backends.deployments.report(r, leaseMs);
  };

  function start(self: AgentThis, d: Deployment): void {
    const { device, label } = deviceFor(d);
    const actor: Actor = { model: d.id, deployment: d.created_at, state: "loading", device: label, loading: Promise.resolve() };
    actors.set(d.id, actor);
    actor.loading = (async () => {
      try {
        const folder = await inspectModelFolder(modelsRoot, d.folder);
        const model = withModelDefaults({ ...d.options, id: d.id, path: folder.path });
        actor.service = await startModelActor(self.broker, model, device, options);
        if (actors.get(d.id) === actor && actor.state === "loading") actor.state = "ready";
      } catch (err) {
        const reason = (err as Error).message.replace(join(modelsRoot, ""), "");
        declined[deploymentKey(d)] = reason;
        self.logger.warn(`declining ${d.id}: ${reason}`);
        if (actors.get(d.id) === actor) actors.delete(d.id);
      }
      void self.tick();
    })();
  }

  async function stop(self: AgentThis, model: string): Promise<void> {
    const actor = actors.get(model);
    if (!actor || actor.state === "stopping") return;
    actor.state = "stopping";
    await actor.loading;
    // destroyService runs the actor's `stopped`: it stops pulling, finishes what it holds, closes the model.
    if (actor.service) await self.broker.destroyService(actor.service);
    actors.delete(model);
    self.logger.info(`stopped ${model}'s actor`);
  }

  return {
    name: "modelAgent",
    actions: {
      /** Checks a folder under this node's models root (for a management node without one). */
      inspect: {
        params: { folder: "string" },
        handler(ctx: Context<{ folder: string }>) {
          return inspectModelFolder(modelsRoot, ctx.params.folder);
        },
      },
    },
    events: {
      "management.changed"(this: AgentThis) {
        void this.tick();
      },
    },
    methods: {
      async tick(this: AgentThis) {
        if (this.stopping) return;
        await rounds
          .run(async () => {
            const [placement, deployments] = await Promise.all([backends.deployments.getPlacement(), backends.deployments.list()]);
            const live = new Set(deployments.map(deploymentKey));
            for (const key of Object.keys(declined)) if (!live.has(key)) delete declined[key];
            const running = [...actors.values()].filter((a) => a.state !== "stopping");
            const plan = planAgent(this.broker.nodeID, placement, deployments, running, declined);
            for (const model of plan.stop) void stop(this, model).then(() => this.tick());
            for (const d of plan.start) start(this, d);
            await report(this.broker.nodeID);
          })
          .catch((err: Error) => this.logger.warn(`model agent: ${err.message}; retrying`));
      },
    },
    started(this: AgentThis) {
      this.logger.info(`model agent: models root ${modelsRoot}, ${slots} slot(s), devices ${devices.map((d) => d.label).join(",")}${memoryBudget !== undefined ? `, memory budget ${memoryBudget} bytes` : ""}`);
      this.timer = setInterval(() => void this.tick(), tickMs);
      void this.tick();
    },
    async stopped(this: AgentThis) {
      this.stopping = true;
      clearInterval(this.timer);
      // Placement hears at once that this node is leaving; its actors drain as the broker stops them.
      await backends.deployments.dropAgent(this.broker.nodeID).catch(() => undefined);
      await Promise.all([...actors.values()].map((a) => a.loading));
    },
  };
}

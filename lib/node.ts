/**
 * Starts one node: a Moleculer broker with the services of its roles (gateway, scheduler, model
 * actors). Embedded mode is every role in one process with in-memory backends.
 */
import Moleculer from "moleculer";
import type { AddressInfo, Server } from "node:net";
import { readFileSync } from "node:fs";
import { PACKAGE_ROOT } from "./package-paths.ts";
import { brokerConfig } from "../moleculer.config.ts";
import type { Settings } from "./config/settings.ts";
import { openBackends, Backends } from "./backends.ts";
import { loadModelsFile } from "./config/models-file.ts";
import type { ModelSettings } from "./config/model-settings.ts";
import { requestLimitsOf, updateBoundsOf, limitWarnings, UpdateBounds, RequestLimits } from "./config/limits.ts";
import { parseDeviceList, Device, deviceName } from "./onnx/device.ts";
import { apiService } from "../services/api.service.ts";
import { schedulerService } from "../services/scheduler.service.ts";
import { managementService } from "../services/management.service.ts";
import { agentService } from "../services/agent.service.ts";
import { startModelActor } from "../services/model-actor.ts";
import { seedDeployments } from "./management/seed.ts";
import { demoModels } from "./demo-models.ts";
import { planActorGroups } from "./model/actor-plan.ts";
import { startChildActors, ChildActors } from "./model/child-actors.ts";
import { openSecurity, securityReport } from "./auth/security.ts";
import { listenWithReusePort } from "./gateway/reuse-port.ts";
import { configureInferencePool } from "./onnx/inference-pool.ts";

export interface RunningNode {
  broker: Moleculer.ServiceBroker;
  backends: Backends;
  /** The gateway's HTTP port, when this node is a gateway. */
  port?: number;
  stop(): Promise<void>;
}

/** The package's version, from its package.json (the one place it is written). */
export const VERSION: string = JSON.parse(readFileSync(new URL("package.json", PACKAGE_ROOT), "utf8")).version;

export async function startNode(settings: Settings): Promise<RunningNode> {
  const devices = parseDeviceList(settings.devices);
  // Every model's ONNX Runtime sessions live on this node's pool of inference threads (lib/onnx/inference-pool.ts).
  configureInferencePool(settings.inferenceThreads);
  const broker = new Moleculer.ServiceBroker(brokerConfig(settings));
  const log = broker.getLogger("node");
  const backends = await openBackends({ redis: settings.redis, resultTtlMs: settings.resultTtlMs, keyPrefix: settings.keyPrefix, visibilityMs: settings.visibilityMs, warn: (m) => log.warn(m), redisConnectTimeoutMs: settings.redisConnectTimeoutMs, info: (m) => log.info(m) });
  if (backends.kind === "memory") log.warn("task store: in memory (no --redis); tasks do not survive a restart and are not shared with other nodes");
  const bounds = updateBoundsOf(settings);
  let security: Awaited<ReturnType<typeof openSecurity>> | undefined;
  if (settings.roles.includes("gateway")) {
    const authLog = broker.getLogger("auth");
    security = await openSecurity(settings, { redis: settings.redis, keyPrefix: settings.keyPrefix, warn: (m) => authLog.warn(m) });
    const report = securityReport(settings, settings.redis !== undefined, security.authenticator.describe);
    for (const line of report.warn) authLog.warn(line);
    for (const line of report.info) authLog.info(line);
    await security.authenticator.warmUp((m) => authLog.warn(m));
    const limits = requestLimitsOf(settings);
    for (const warning of limitWarnings(settings.bodyLimit, limits)) log.warn(warning);
    const gateway = broker.createService(apiService({ backends, port: settings.port, host: settings.host, security, prefix: settings.prefix, bodyLimit: settings.bodyLimit, version: VERSION, limits, bounds, modelsPrefix: settings.modelsPrefix }));
    // --reuse-port: moleculer-web made its HTTP server in `created` and listens in `started`.
    if (settings.reusePort) listenWithReusePort((gateway as unknown as { server: Server }).server);
  }
  if (settings.roles.includes("scheduler")) {
    broker.createService(schedulerService(backends, bounds));
    broker.createService(managementService({ backends, bounds, modelsRoot: settings.modelsRoot, leaseMs: settings.agentLeaseMs }));
  }
  try {
    await startBroker(broker, settings.transporter !== undefined);
  } catch (err) {
    await security?.close();
    await backends.close();
    throw err;
  }
  let children: ChildActors | undefined;
  if (settings.roles.includes("models") && settings.modelsRoot !== undefined) {
    // A managed models node: its models file (if any) seeds the desired state; placement decides where actors run.
    if (settings.modelsFile) await seedDeployments(backends.deployments, backends.store, await loadModelsFile(settings.modelsFile, bounds), settings.modelsRoot, (m) => log.info(m));
    const { modelsRoot, modelSlots: slots, memoryBudget, agentLeaseMs: leaseMs, cacheDir } = settings;
    broker.createService(agentService({ backends, cacheDir, bounds, limits: requestLimitsOf(settings), modelsRoot, devices: devices.map((device) => ({ device, label: deviceName(device) })), slots, memoryBudget, leaseMs }));
  } else if (settings.roles.includes("models")) {
    const models = settings.modelsFile ? await loadModelsFile(settings.modelsFile, bounds) : await demoModels(settings.demoDir, (m) => log.info(m));
    await Promise.all(models.map((model) => backends.store.registerModel(model.id)));
    const groups = planActorGroups(models, devices);
    if (groups.length === 1) await Promise.all(groups[0].models.map((model) => startModel(broker, backends, model, groups[0].device, settings.cacheDir, bounds, requestLimitsOf(settings))));
    else children = await startChildActors(settings, groups, broker.nodeID, (m) => log.warn(m));
  }
  const api = broker.getLocalService("api") as unknown as { server?: { address(): AddressInfo | string | null } } | undefined;
  const address = api?.server?.address();
  return {
    broker,
    backends,
    port: typeof address === "object" && address ? address.port : undefined,
    async stop() {
      await children?.stop();
      await broker.stop();
      await security?.close();
      await backends.close();
    },
  };
}

async function startModel(broker: Moleculer.ServiceBroker, backends: Backends, model: ModelSettings, device: Device, cacheDir: string, bounds: UpdateBounds, limits: RequestLimits): Promise<void> {
  await startModelActor(broker, model, device, { backends, cacheDir, bounds, limits });
}

/**
 * Starts the broker; a transporter that refuses this node's credentials (NATS "Authorization
 * Violation") stops the start with an error naming the settings, instead of Moleculer's endless
 * reconnecting.
 */
async function startBroker(broker: Moleculer.ServiceBroker, hasTransporter: boolean): Promise<void> {
  if (!hasTransporter) return broker.start();
  let onError: ((payload: { error?: Error }) => void) | undefined;
  const refused = new Promise<never>((_, reject) => {
    onError = ({ error }) => {
      if (/authorization violation|authentication|permissions violation/i.test(error?.message ?? "")) {
        // Moleculer would retry every 5 s, even after stop(); credentials do not fix themselves.
        const transit = (broker as unknown as { transit?: { opts: { disableReconnect?: boolean } } }).transit;
        if (transit) transit.opts.disableReconnect = true;
        reject(new Error(`the transporter refused this node's credentials (${error?.message}); check TRANSPORTER_USER/TRANSPORTER_PASSWORD, TRANSPORTER_TOKEN or the credentials in the --transporter URL`));
      }
    };
    broker.localBus.on("$transporter.error", onError);
  });
  try {
    await Promise.race([broker.start(), refused]);
  } catch (err) {
    await broker.stop().catch(() => {});
    throw err;
  } finally {
    broker.localBus.off("$transporter.error", onError!);
  }
}

/**
 * Moleculer broker options for square-inference. `brokerConfig(settings)` fills in what comes
 * from the command line (node id, transporter, log level); everything else is fixed here, each
 * option with the reason for its value.
 */
import type { BrokerOptions } from "moleculer";
import type { Settings } from "./lib/config/settings.ts";
import { natsAuthOptions, TransportSettings } from "./lib/config/transport-settings.ts";

export function brokerConfig(settings: Pick<Settings, "nodeId" | "transporter" | "logLevel"> & TransportSettings): BrokerOptions {
  return {
    // Namespace: brokers only see nodes of the same namespace on a shared transporter; lets
    // several deployments (or test runs) share one NATS server. Env: MOLECULER_NAMESPACE.
    namespace: process.env.MOLECULER_NAMESPACE ?? "square",
    // Node id: unique per process in a cluster; the default is host name plus pid.
    nodeID: settings.nodeId,
    // Logger: Moleculer's console logger, one line per entry, no colours when not a TTY.
    logger: { type: "Console", options: { level: settings.logLevel, colors: process.stdout.isTTY, formatter: "short" } },
    // Transporter: undefined = standalone (embedded mode, in-process calls only); a NATS URL
    // joins the cluster. Moleculer 0.15's BrokerOptions type lists transporter names and config
    // objects only, but the broker still resolves connection strings (nats://...) at run time.
    // Credentials and TLS (--transporter-user, TRANSPORTER_PASSWORD, TRANSPORTER_TOKEN,
    // --transporter-tls-*) go to the NATS client as they are: other nodes are trusted, so the
    // transporter's own authentication is what keeps an untrusted node from joining.
    transporter: transporterOption(settings),
    // Serializer: JSON keeps packets readable and interoperable with nodes in other languages.
    serializer: "JSON",
    // Request timeout: direct task calls on a busy model can take long; the REST path never
    // waits on inference (it polls the task store), so a generous bound only guards hangs.
    requestTimeout: 120_000,
    // Retries: off. The work queue, not RPC, gives tasks their at-least-once delivery.
    retryPolicy: { enabled: false },
    // Call depth: how deeply a call may call further actions (ctx.call inside a handler) before
    // Moleculer refuses it, which stops accidental recursion. It does not limit concurrency:
    // backpressure lives in the model queues. Our deepest chain is gateway → scheduler → replica.
    maxCallLevel: 100,
    // Heartbeats: how often a node says it is alive, and after how long silence it is dropped
    // from the registry (and its services with it).
    heartbeatInterval: 5,
    heartbeatTimeout: 15,
    // Balancing: Moleculer picks the replica for direct calls (NATS does not balance for us).
    disableBalancer: false,
    registry: {
      // Round robin over replicas for direct calls; queue-based work is pulled, not pushed.
      strategy: "RoundRobin",
      // Prefer replicas on the calling node: no network hop in embedded mode.
      preferLocal: true,
    },
    // Circuit breaker: off; a failing replica's tasks are retried through the queue instead.
    circuitBreaker: { enabled: false },
    // Bulkhead: off; the model actor bounds its own concurrency.
    bulkhead: { enabled: false },
    // Parameter validation of actions with `params` schemas (fastest-validator, Moleculer's default).
    validator: true,
    // Metrics and tracing: off by default; Prometheus metrics come with the gateway's /metrics.
    metrics: { enabled: false },
    tracing: { enabled: false },
    // Internal services ($node.*) for introspection (`$node.services`, `$node.list`).
    internalServices: true,
    // Hot reload: never in a server.
    hotReload: false,
    // Stop the broker on SIGTERM/SIGINT, which runs every service's `stopped` (drain).
    // The CLI installs its own handlers so it can log the drain; Moleculer's stay off.
    skipProcessEventRegistration: true,
  };
}

/**
 * With credentials or TLS in the settings, the NATS options name `servers` rather than `url`:
 * Moleculer's NATS transporter overwrites `user` and `pass` with the URL's (none) when given a `url`.
 */
function transporterOption(settings: Pick<Settings, "transporter"> & TransportSettings): BrokerOptions["transporter"] {
  const auth = natsAuthOptions(settings);
  if (!settings.transporter || !auth) return settings.transporter as BrokerOptions["transporter"];
  const urls = settings.transporter.split(",").map((u) => new URL(u.trim()));
  const fromUrl = { user: decodeURIComponent(urls[0].username) || undefined, pass: decodeURIComponent(urls[0].password) || undefined };
  return { type: "NATS", options: { servers: urls.map((u) => u.host), ...fromUrl, ...auth } } as BrokerOptions["transporter"];
}

/**
 * Node settings from command-line flags and environment variables (SPEC §14). Flags win over
 * the environment, the environment over defaults.
 */
import { DEFAULT_LIMITS, DEFAULT_MAX_BATCH_SIZE, parseByteSize } from "./limits.ts";
import { Option, positiveNumber, positiveInteger } from "./option.ts";
import { SecuritySettings, SECURITY_OPTIONS, DEFAULT_SECURITY, checkSecuritySettings } from "./security-settings.ts";
import { TransportSettings, TRANSPORT_OPTIONS, checkTransportSettings } from "./transport-settings.ts";
import { ManagementSettings, MANAGEMENT_OPTIONS, DEFAULT_MANAGEMENT } from "./management-settings.ts";

export type Role = "gateway" | "scheduler" | "models";
export const ALL_ROLES: readonly Role[] = Object.freeze(["gateway", "scheduler", "models"]);

/** Authentication, rate limits, bind address (security-settings.ts) and transporter credentials (transport-settings.ts) included. */
export interface Settings extends SecuritySettings, TransportSettings, ManagementSettings {
  roles: Role[];
  /** Models file (JSON); undefined = the bundled demo models. */
  modelsFile?: string;
  transporter?: string;
  redis?: string;
  /** How long a node retries its first connection to Redis before giving up (ms); 0 = for ever. */
  redisConnectTimeoutMs: number;
  port: number;
  /** Listen with SO_REUSEPORT, so several gateway processes share the port (lib/gateway/reuse-port.ts). */
  reusePort?: boolean;
  nodeId?: string;
  devices: string;
  /** Route prefix of the REST API. */
  prefix: string;
  resultTtlMs: number;
  bodyLimit: string;
  /** Prefix of every Redis key; distinct per deployment sharing one Redis. */
  keyPrefix: string;
  /** Idle time after which another replica may take over a task whose replica went silent. */
  visibilityMs: number;
  /** Where `npm start` builds the demo models when no models file is given. */
  demoDir: string;
  /** Where derived artefacts (gradient models) are cached, keyed by the model file's hash. */
  cacheDir: string;
  /** Inference threads of the process, shared by every model's sessions (lib/onnx/inference-pool.ts); undefined: max(2, the largest `workers`). */
  inferenceThreads?: number;
  logLevel: string;
  /** Request bounds (lib/config/limits.ts). */
  maxItemChars: number;
  maxRequestItems: number;
  maxRequestChars: number;
  maxRequestTokens: number;
  /** Largest batch_size a models file or `update` may set. */
  maxBatchSize: number;
}

export const OPTIONS: readonly Option<keyof Settings>[] = Object.freeze([
  { flag: "--roles", env: "SQUARE_ROLES", key: "roles", help: "comma list of gateway,scheduler,models (default: all)", parse: parseRoles },
  { flag: "--models", env: "SQUARE_MODELS", key: "modelsFile", help: "models file (JSON); default: the bundled demo models" },
  { flag: "--transporter", env: "TRANSPORTER", key: "transporter", help: "Moleculer transporter URL, e.g. nats://127.0.0.1:4222; default: standalone" },
  { flag: "--redis", env: "REDIS_URL", key: "redis", help: "Redis URL for task state and queues; default: in memory" },
  { flag: "--redis-connect-timeout", env: "SQUARE_REDIS_CONNECT_TIMEOUT", key: "redisConnectTimeoutMs", help: "seconds a starting node keeps retrying Redis (backoff 0.5 s to 10 s) before it exits; 0 = for ever (default 0)", parse: parseConnectTimeout },
  { flag: "--port", env: "PORT", key: "port", help: "HTTP port of the gateway (default 8000)", parse: parsePort },
  { flag: "--reuse-port", env: "SQUARE_REUSE_PORT", key: "reusePort", help: "true: the gateway listens with SO_REUSEPORT, so several gateway processes on this host share --port and the kernel spreads connections over them (Linux; default false)", parse: parseReusePort },
  { flag: "--node-id", env: "NODE_ID", key: "nodeId", help: "Moleculer node id (default: host name and pid)" },
  { flag: "--devices", env: "SQUARE_DEVICES", key: "devices", help: "cpu or cuda:0,cuda:1 (one model actor per device; default cpu)" },
  { flag: "--prefix", env: "SQUARE_PREFIX", key: "prefix", help: "REST route prefix (default /api/main)" },
  { flag: "--result-ttl", env: "SQUARE_RESULT_TTL", key: "resultTtlMs", help: "seconds a result stays readable (default 86400)", parse: (s) => positiveNumber(s, "--result-ttl") * 1000 },
  { flag: "--body-limit", env: "SQUARE_BODY_LIMIT", key: "bodyLimit", help: "largest accepted request body, e.g. 7mb, 512kb (default 7mb: the character limits ASCII-escaped, plus room)", parse: parseBodyLimit },
  { flag: "--max-item-chars", env: "SQUARE_MAX_ITEM_CHARS", key: "maxItemChars", help: `characters per input item, a pair's two texts together (default ${DEFAULT_LIMITS.maxItemChars})`, parse: (s) => positiveInteger(s, "--max-item-chars") },
  { flag: "--max-request-items", env: "SQUARE_MAX_REQUEST_ITEMS", key: "maxRequestItems", help: `items per request, and the largest max_input (default ${DEFAULT_LIMITS.maxRequestItems})`, parse: (s) => positiveInteger(s, "--max-request-items") },
  { flag: "--max-request-chars", env: "SQUARE_MAX_REQUEST_CHARS", key: "maxRequestChars", help: `characters per request, all items together (default ${DEFAULT_LIMITS.maxRequestChars})`, parse: (s) => positiveInteger(s, "--max-request-chars") },
  { flag: "--max-request-tokens", env: "SQUARE_MAX_REQUEST_TOKENS", key: "maxRequestTokens", help: `is_preprocessed input: token positions per request, rows × length (default ${DEFAULT_LIMITS.maxRequestTokens})`, parse: (s) => positiveInteger(s, "--max-request-tokens") },
  { flag: "--max-batch-size", env: "SQUARE_MAX_BATCH_SIZE", key: "maxBatchSize", help: `largest batch_size a models file or update may set (default ${DEFAULT_MAX_BATCH_SIZE})`, parse: (s) => positiveInteger(s, "--max-batch-size") },
  { flag: "--key-prefix", env: "SQUARE_KEY_PREFIX", key: "keyPrefix", help: "prefix of Redis keys (default square:)" },
  { flag: "--visibility-timeout", env: "SQUARE_VISIBILITY_TIMEOUT", key: "visibilityMs", help: "seconds before a silent replica's task is taken over (default 10)", parse: (s) => positiveNumber(s, "--visibility-timeout") * 1000 },
  { flag: "--demo-dir", env: "SQUARE_DEMO_DIR", key: "demoDir", help: "where demo models are built when missing (default models/demo)" },
  { flag: "--cache-dir", env: "SQUARE_CACHE_DIR", key: "cacheDir", help: "cache of derived models, e.g. gradient graphs (default .cache/square-inference)" },
  { flag: "--inference-threads", env: "SQUARE_INFERENCE_THREADS", key: "inferenceThreads", help: "worker threads hosting every model's ONNX Runtime sessions (default: 2, or the largest workers of a model when more)", parse: (s) => positiveInteger(s, "--inference-threads") },
  { flag: "--log-level", env: "LOG_LEVEL", key: "logLevel", help: "error, warn, info, debug (default info)" },
  ...SECURITY_OPTIONS,
  ...TRANSPORT_OPTIONS,
  ...MANAGEMENT_OPTIONS,
]);

export const DEFAULT_SETTINGS: Readonly<Settings> = Object.freeze({
  roles: [...ALL_ROLES],
  redisConnectTimeoutMs: 0,
  port: 8000,
  devices: "cpu",
  prefix: "/api/main",
  resultTtlMs: 24 * 3600 * 1000,
  bodyLimit: "7mb",
  keyPrefix: "square:",
  visibilityMs: 10_000,
  demoDir: "models/demo",
  cacheDir: ".cache/square-inference",
  logLevel: "info",
  ...DEFAULT_LIMITS,
  maxBatchSize: DEFAULT_MAX_BATCH_SIZE,
  ...DEFAULT_SECURITY,
  ...DEFAULT_MANAGEMENT,
});

function parseRoles(text: string): Role[] {
  const roles = text.split(",").map((r) => r.trim()).filter(Boolean);
  for (const r of roles) if (!ALL_ROLES.includes(r as Role)) throw new Error(`unknown role "${r}": use ${ALL_ROLES.join(", ")}`);
  if (roles.length === 0) throw new Error("--roles needs at least one role");
  return roles as Role[];
}

function parseBodyLimit(text: string): string {
  if (parseByteSize(text) === undefined) throw new Error(`--body-limit must be a size like 10mb, 512kb or 1048576, got "${text}"`);
  return text;
}

function parseConnectTimeout(text: string): number {
  const n = Number(text);
  if (!(n >= 0) || !Number.isFinite(n)) throw new Error(`--redis-connect-timeout must be seconds ≥ 0 (0 = retry for ever), got "${text}"`);
  return n * 1000;
}

function parseReusePort(text: string): boolean {
  if (/^(true|1|yes)$/i.test(text)) return true;
  if (/^(false|0|no)$/i.test(text)) return false;
  throw new Error(`--reuse-port must be true or false, got "${text}"`);
}

function parsePort(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`--port must be 0..65535, got "${text}"`);
  return n;
}

export function resolveSettings(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Settings {
  const settings: Settings = { ...DEFAULT_SETTINGS, roles: [...DEFAULT_SETTINGS.roles] };
  const assign = (opt: Option<keyof Settings>, raw: string) => {
    (settings as unknown as Record<string, unknown>)[opt.key] = opt.parse ? opt.parse(raw) : raw;
  };
  for (const opt of OPTIONS) if (env[opt.env] !== undefined && env[opt.env] !== "") assign(opt, env[opt.env] as string);
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s, 2);
    const opt = OPTIONS.find((o) => o.flag !== undefined && o.flag === flag);
    if (!opt) throw new Error(`unknown option "${argv[i]}" (see --help)`);
    const value = inline ?? argv[++i];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    assign(opt, value);
  }
  checkSecuritySettings(settings);
  checkTransportSettings(settings);
  return settings;
}

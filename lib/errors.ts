/**
 * The one error taxonomy of the server (SPEC §12). Every error a user can cause is an
 * `InferenceError` with a type; `httpStatusOf` maps types to HTTP codes in one place, and
 * `toErrorBody` renders the one error body. Errors cross Moleculer transports as
 * MoleculerClientError/MoleculerError, which keep `type`, `code` and `data`.
 */
import Moleculer from "moleculer";

export const ERROR_STATUS = Object.freeze({
  bad_request: 400,
  invalid_request: 422,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  overloaded: 429,
  unavailable: 503,
  unauthorized: 401,
  forbidden: 403,
  timeout: 504,
  internal: 500,
} as const);

export type ErrorType = keyof typeof ERROR_STATUS;

/** One field-level problem, rendered both in `error.details` and FastAPI's `detail` list. */
export interface FieldProblem {
  field: string;
  message: string;
}

export class InferenceError extends Moleculer.Errors.MoleculerError {
  constructor(type: ErrorType, message: string, details?: FieldProblem[]) {
    super(message, ERROR_STATUS[type], type, details);
  }
}

export const invalid = (message: string, field?: string) =>
  new InferenceError("invalid_request", message, field ? [{ field, message }] : undefined);
export const invalidFields = (problems: FieldProblem[]) =>
  new InferenceError("invalid_request", problems.map((p) => `${p.field}: ${p.message}`).join("; "), problems);
export const notFound = (message: string) => new InferenceError("not_found", message);
export const conflict = (message: string) => new InferenceError("conflict", message);
export const unavailable = (message: string) => new InferenceError("unavailable", message);
export const overloaded = (message: string) => new InferenceError("overloaded", message);

interface ErrorLike {
  message?: string;
  code?: number | string;
  type?: string;
  status?: number;
  statusCode?: number;
  data?: unknown;
  name?: string;
}

/** A type of this taxonomy; own keys only, so a type named like an Object.prototype member is none. */
const isErrorType = (type: unknown): type is ErrorType => typeof type === "string" && Object.hasOwn(ERROR_STATUS, type);

/** An error of this taxonomy, also after crossing a Moleculer transport (which keeps `type`, not the class). */
export const isClassifiedError = (err: unknown): boolean => typeof err === "object" && err !== null && isErrorType((err as ErrorLike).type);

/**
 * body-parser (moleculer-web's JSON parser) reports its errors by `type`; each is a client
 * mistake with its own status. Malformed JSON stays a 422 as FastAPI answers it (SQuARE clients).
 */
const BODY_PARSER_ERRORS: ReadonlyMap<string, { type: ErrorType; message: (err: ErrorLike) => string }> = new Map([
  ["entity.too.large", { type: "payload_too_large", message: () => "request body is larger than the server's limit (--body-limit)" }],
  ["entity.parse.failed", { type: "invalid_request", message: (e: ErrorLike) => `request body is not valid JSON: ${e.message}` }],
  ["encoding.unsupported", { type: "unsupported_media_type", message: (e: ErrorLike) => `${e.message}; send the body uncompressed, or with Content-Encoding gzip or deflate` }],
  ["charset.unsupported", { type: "unsupported_media_type", message: (e: ErrorLike) => `${e.message}; send JSON as UTF-8` }],
  ["request.aborted", { type: "bad_request", message: () => "the client closed the connection before the body was complete" }],
  ["request.size.invalid", { type: "bad_request", message: () => "the body's size does not match its Content-Length header" }],
  ["parameters.too.many", { type: "payload_too_large", message: () => "too many parameters" }],
] as const);

/** zlib reports corrupt or truncated compressed data with codes like Z_DATA_ERROR and Z_BUF_ERROR. */
const isDecompressionError = (err: ErrorLike) => typeof err.code === "string" && /^Z_[A-Z_]+$/.test(err.code);

/** Errors of Moleculer and moleculer-web, by name. */
const BY_NAME: ReadonlyMap<string, { type: ErrorType; message?: string }> = new Map<string, { type: ErrorType; message?: string }>([
  ["ValidationError", { type: "invalid_request" }], // Moleculer's parameter validator
  ["NotFoundError", { type: "not_found", message: "no such route" }], // moleculer-web: no route matched
  ["ServiceNotFoundError", { type: "unavailable", message: "a service this request needs is not running; retry later" }],
  ["ServiceNotAvailableError", { type: "unavailable", message: "a service this request needs is not available; retry later" }],
  ["RequestTimeoutError", { type: "timeout", message: "the request timed out inside the cluster" }],
]);

const TYPE_BY_STATUS: ReadonlyMap<number, ErrorType> = new Map(Object.entries(ERROR_STATUS).map(([type, status]) => [status, type as ErrorType]));

interface Classified {
  status: number;
  type: ErrorType;
  message: string;
}

/** Status, type and client-facing message of any error thrown anywhere on the request path. */
function classify(err: ErrorLike): Classified {
  const message = err.message ?? "error";
  if (isErrorType(err.type)) return { status: ERROR_STATUS[err.type], type: err.type, message };
  const parser = err.type !== undefined ? BODY_PARSER_ERRORS.get(err.type) : undefined;
  if (parser) return { status: ERROR_STATUS[parser.type], type: parser.type, message: parser.message(err) };
  if (isDecompressionError(err)) return { status: 400, type: "bad_request", message: `request body could not be decompressed as its Content-Encoding says (${message})` };
  const named = err.name !== undefined ? BY_NAME.get(err.name) : undefined;
  if (named) return { status: ERROR_STATUS[named.type], type: named.type, message: named.message ?? message };
  const candidate = [err.status, err.statusCode, err.code].find((s): s is number => typeof s === "number" && s >= 400 && s < 600);
  const status = candidate ?? 500;
  // A 5xx of unknown origin may carry internals (paths, a dependency's text): replaced.
  if (status >= 500) return { status, type: TYPE_BY_STATUS.get(status) ?? "internal", message: "internal error" };
  return { status, type: TYPE_BY_STATUS.get(status) ?? "bad_request", message };
}

/** HTTP status for any error thrown anywhere on the request path. */
export function httpStatusOf(err: ErrorLike): number {
  return classify(err).status;
}

/** The SPEC §12 error body: `{error: {type, message, details?}}`, plus FastAPI's `detail` list on 422. */
export function toErrorBody(err: ErrorLike): { status: number; body: Record<string, unknown> } {
  const { status, type, message } = classify(err);
  const details = fieldProblems(err);
  const body: Record<string, unknown> = { error: { type, message, ...(details ? { details } : {}) } };
  if (status === 422) {
    body.detail = (details ?? [{ field: "body", message }]).map((p) => ({
      // FastAPI's location: a query parameter's field is named `query.<name>`, everything else is the body's.
      loc: p.field.startsWith("query.") ? p.field.split(".") : ["body", ...p.field.split(".")],
      msg: p.message,
      type: "value_error",
    }));
  }
  return { status, body };
}

function fieldProblems(err: ErrorLike): FieldProblem[] | undefined {
  if (!Array.isArray(err.data)) return undefined;
  return err.data.map((d: { field?: string; message?: string }) => ({
    field: String(d.field ?? "body"),
    message: String(d.message ?? ""),
  }));
}

/**
 * The one error taxonomy of the server (SPEC §12). Every error a user can cause is an
 * `InferenceError` with a type; `httpStatusOf` maps types to HTTP codes in one place, and
 * `toErrorBody` renders the one error body. Errors cross Moleculer transports as
 * MoleculerClientError/MoleculerError, which keep `type`, `code` and `data`.
 */
import Moleculer from "moleculer";

export const ERROR_STATUS = Object.freeze({
  invalid_request: 422,
  not_found: 404,
  payload_too_large: 413,
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
export const unavailable = (message: string) => new InferenceError("unavailable", message);
export const overloaded = (message: string) => new InferenceError("overloaded", message);

interface ErrorLike {
  message?: string;
  code?: number;
  type?: string;
  status?: number;
  statusCode?: number;
  data?: unknown;
  name?: string;
}

/** HTTP status for any error thrown anywhere on the request path. */
export function httpStatusOf(err: ErrorLike): number {
  if (err.type && err.type in ERROR_STATUS) return ERROR_STATUS[err.type as ErrorType];
  // body-parser errors (moleculer-web uses it): sizes and malformed JSON are client mistakes.
  if (err.type === "entity.too.large") return 413;
  if (err.type === "entity.parse.failed" || err.type === "encoding.unsupported") return 422;
  if (err.name === "ValidationError") return 422; // Moleculer's parameter validator
  if (err.name === "NotFoundError") return 404; // moleculer-web: no route matched
  if (err.name === "ServiceNotFoundError" || err.name === "ServiceNotAvailableError") return 503;
  if (err.name === "RequestTimeoutError") return 504;
  const status = err.status ?? err.statusCode ?? err.code;
  if (typeof status === "number" && status >= 400 && status < 600) return status;
  return 500;
}

const TYPE_BY_STATUS: Record<number, ErrorType> = Object.fromEntries(
  Object.entries(ERROR_STATUS).map(([type, status]) => [status, type as ErrorType]),
);

/** The SPEC §12 error body. 5xx messages of unknown origin are replaced: no internals leak. */
export function toErrorBody(err: ErrorLike): { status: number; body: Record<string, unknown> } {
  const status = httpStatusOf(err);
  const ownType = err.type !== undefined && err.type in ERROR_STATUS;
  const type = (ownType ? err.type : TYPE_BY_STATUS[status] ?? "internal") as ErrorType;
  let message = err.message ?? "error";
  if (err.type === "entity.too.large") message = "request body is larger than the server's limit";
  if (err.type === "entity.parse.failed") message = `request body is not valid JSON: ${err.message}`;
  if (err.name === "NotFoundError") message = "no such route";
  if (!ownType && status >= 500) message = "internal error";
  const details = fieldProblems(err);
  const body: Record<string, unknown> = { error: { type, message, ...(details ? { details } : {}) } };
  if (status === 422) {
    body.detail = (details ?? [{ field: "body", message }]).map((p) => ({
      loc: ["body", ...p.field.split(".")],
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

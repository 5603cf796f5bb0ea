/**
 * Why a gradient model cannot be built. The server maps `UnsupportedOperatorError` to 422 for
 * explanation/attack requests while the model keeps serving predictions.
 */

/** An operator on the path from `inputs_embeds` to the target has no vector-Jacobian rule. */
export class UnsupportedOperatorError extends Error {
  readonly name = "UnsupportedOperatorError";
  constructor(
    readonly opType: string,
    readonly nodeName: string | undefined,
    detail = "has no gradient rule",
  ) {
    super(`cannot differentiate the model: operator ${opType}${nodeName ? ` (node ${nodeName})` : ""} ${detail}`);
  }
}

/** The graph does not have the structure gradients need (no word-embedding lookup, unknown target, ...). */
export class GradientGraphError extends Error {
  readonly name = "GradientGraphError";
}

/**
 * HotFlip's loss (docs/attacks.md): the cross-entropy of a fixed prediction, summed over the
 * task's outputs (the label's logits, or a span's start and end logits), and its gradient with
 * respect to those logits, `softmax − onehot`, which is the cotangent the gradient graph takes.
 */
import type { AttackSubject } from "../tasks/types.ts";

function logSoftmax(row: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) max = Math.max(max, row[i]);
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i] - max);
  const logZ = max + Math.log(sum);
  return Float64Array.from(row, (v) => v - logZ);
}

/** The loss of `predicted` (the original prediction's indices) at the logits of `current`. */
export function predictionLoss(current: Pick<AttackSubject, "logits">, predicted: Record<string, number>): number {
  return Object.entries(predicted).reduce((sum, [output, index]) => sum - logSoftmax(current.logits[output])[index], 0);
}

/** ∂loss/∂logits per output, at the logits of `current`. */
export function lossCotangents(current: Pick<AttackSubject, "logits">, predicted: Record<string, number>): Record<string, Float32Array> {
  const cotangents: Record<string, Float32Array> = {};
  for (const [output, index] of Object.entries(predicted)) {
    const cotangent = Float32Array.from(logSoftmax(current.logits[output]), Math.exp);
    cotangent[index] -= 1;
    cotangents[output] = cotangent;
  }
  return cotangents;
}

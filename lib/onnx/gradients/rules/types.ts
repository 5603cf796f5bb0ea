/** What a vector-Jacobian-product rule sees of its node and the graph around it. */
import type { AttributeProto, NodeProto } from "../../graph-io.ts";
import type { Emitter } from "../emitter.ts";

/** Static facts about forward tensors, from the model and the shape probe. */
export interface TensorFacts {
  /** Dims seen in the probing run (batch and sequence length differ from every static size). */
  dims(tensor: string): number[];
  rank(tensor: string): number;
  elemType(tensor: string): number;
  /** Values of an int tensor fixed at build time (initializer or Constant), if it is one. */
  constInts(tensor: string): number[] | undefined;
}

export interface VjpContext {
  node: NodeProto;
  em: Emitter;
  facts: TensorFacts;
  /** Cotangent of each output; undefined where nothing downstream depends on that output. */
  gradOutputs: (string | undefined)[];
  /** Which inputs need a cotangent (they depend on `inputs_embeds`). */
  wantsInput: boolean[];
  attr(name: string): AttributeProto | undefined;
  /** Sums `g` (shaped like output `y`) over the axes along which input `x` was broadcast, then reshapes it to x's runtime shape. */
  unbroadcast(g: string, x: string, y: string): string;
  /** Throws UnsupportedOperatorError for this node with the given reason. */
  unsupported(detail: string): never;
}

/** Cotangents of the node's inputs (undefined for inputs that need none). */
export type VjpRule = (ctx: VjpContext) => (string | undefined)[];

/** The cotangent of output 0; single-output rules run only when it exists. */
export const grad0 = (ctx: VjpContext): string => ctx.gradOutputs[0]!;

/** Normalises a possibly negative axis. */
export const normAxis = (axis: number, rank: number): number => (axis < 0 ? axis + rank : axis);

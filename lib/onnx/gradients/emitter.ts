/**
 * Appends the backward pass's nodes and constants to a graph. Knows the model's opset, so
 * callers ask for "sum over these axes" and get the form that opset defines (axes as an
 * attribute or as an input). Every name it makes starts with `grad/` so it cannot collide with
 * the forward graph's tensors.
 */
import { DataType, int64Tensor, intAttr, intsAttr, makeNode, tensorAttr, type AttributeProto, type GraphProto, type TensorProto } from "../graph-io.ts";

/** The oldest opset the emitted nodes are written for (Range, Slice with input starts/ends). */
export const MIN_OPSET = 11;

export class Emitter {
  private counter = 0;
  private readonly scalars = new Map<string, string>();

  constructor(
    private readonly graph: GraphProto,
    readonly opset: number,
    /** Element type of the differentiated tensors (FLOAT or DOUBLE). */
    readonly floatType: number,
  ) {}

  fresh(hint: string): string {
    return `grad/${hint}_${this.counter++}`;
  }

  /** One node with one output; returns that output's name. */
  op(opType: string, inputs: readonly string[], attributes: readonly AttributeProto[] = [], hint = opType): string {
    const out = this.fresh(hint);
    this.graph.node.push(makeNode(opType, inputs, [out], attributes, out));
    return out;
  }

  /** One node with several outputs. */
  opMulti(opType: string, inputs: readonly string[], outputs: number, attributes: readonly AttributeProto[] = []): string[] {
    const names = Array.from({ length: outputs }, () => this.fresh(opType));
    this.graph.node.push(makeNode(opType, inputs, names, attributes, names[0]));
    return names;
  }

  private initializer(tensor: TensorProto): string {
    this.graph.initializer.push(tensor);
    return tensor.name!;
  }

  /** A scalar of the differentiated float type (shared between uses). */
  scalar(value: number): string {
    const key = `f${value}`;
    let name = this.scalars.get(key);
    if (!name) {
      name = this.initializer(floatScalar(this.fresh("const"), this.floatType, value));
      this.scalars.set(key, name);
    }
    return name;
  }

  /** A 1-D int64 constant. */
  ints(values: readonly number[]): string {
    const key = `i${values.join(",")}`;
    let name = this.scalars.get(key);
    if (!name) {
      name = this.initializer(int64Tensor(this.fresh("ints"), [values.length], values));
      this.scalars.set(key, name);
    }
    return name;
  }

  /** A 0-D int64 constant. */
  intScalar(value: number): string {
    const key = `s${value}`;
    let name = this.scalars.get(key);
    if (!name) {
      name = this.initializer(int64Tensor(this.fresh("int"), [], [value]));
      this.scalars.set(key, name);
    }
    return name;
  }

  shape(x: string): string {
    return this.op("Shape", [x]);
  }

  /** Element `axis` of Shape(x), as a 1-D tensor of one element. */
  dim(x: string, axis: number): string {
    return this.op("Slice", [this.shape(x), this.ints([axis]), this.ints([axis + 1]), this.ints([0])]);
  }

  // Axes became an input of ReduceSum, Squeeze and Unsqueeze in opset 13, of ReduceMean in 18.
  reduceSum(x: string, axes: readonly number[], keepdims: boolean): string {
    const keep = intAttr("keepdims", keepdims ? 1 : 0);
    return this.opset >= 13 ? this.op("ReduceSum", [x, this.ints(axes)], [keep]) : this.op("ReduceSum", [x], [intsAttr("axes", axes), keep]);
  }

  reduceMean(x: string, axes: readonly number[], keepdims: boolean): string {
    const keep = intAttr("keepdims", keepdims ? 1 : 0);
    return this.opset >= 18 ? this.op("ReduceMean", [x, this.ints(axes)], [keep]) : this.op("ReduceMean", [x], [intsAttr("axes", axes), keep]);
  }

  unsqueeze(x: string, axes: readonly number[]): string {
    return this.opset >= 13 ? this.op("Unsqueeze", [x, this.ints(axes)]) : this.op("Unsqueeze", [x], [intsAttr("axes", axes)]);
  }

  squeeze(x: string, axes: readonly number[]): string {
    return this.opset >= 13 ? this.op("Squeeze", [x, this.ints(axes)]) : this.op("Squeeze", [x], [intsAttr("axes", axes)]);
  }

  reshapeLike(x: string, like: string): string {
    return this.op("Reshape", [x, this.shape(like)]);
  }

  /** Zeros with the runtime shape of `like`. */
  zerosLike(like: string): string {
    return this.op("ConstantOfShape", [this.shape(like)], [tensorAttr("value", floatTensorOf(this.floatType, [1], [0]))]);
  }

  cast(x: string, to: number): string {
    return this.op("Cast", [x], [intAttr("to", to)]);
  }

  /** Sum of several same-shaped contributions. */
  sum(terms: readonly string[]): string {
    return terms.length === 1 ? terms[0] : this.op("Sum", terms);
  }
}

/** Small constants go in the typed repeated fields, which have no byte order to get wrong. */
function floatTensorOf(dataType: number, dims: number[], values: readonly number[]): TensorProto {
  if (dataType === DataType.DOUBLE) return { dims, dataType, doubleData: [...values] };
  if (dataType === DataType.FLOAT) return { dims, dataType, floatData: [...values] };
  throw new Error(`gradients support FLOAT and DOUBLE models, not element type ${dataType}`);
}

function floatScalar(name: string, dataType: number, value: number): TensorProto {
  return { ...floatTensorOf(dataType, [], [value]), name };
}

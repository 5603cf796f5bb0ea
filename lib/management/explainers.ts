/** SQuARE's `GET /api/models/explainers`: the explanation methods (SPEC §7), each `{identifier, method_name, description}`. */
export const EXPLAINERS = Object.freeze([
  { identifier: "simple_grads", method_name: "Simple gradients", description: "Gradient of the predicted target with respect to each token's embedding, dotted with that embedding." },
  { identifier: "integrated_grads", method_name: "Integrated gradients", description: "Gradients averaged along a straight path from a zero embedding to the input (explain_kwargs.steps points), times the embedding." },
  { identifier: "smooth_grads", method_name: "SmoothGrad", description: "Gradients averaged over noisy copies of the embeddings (explain_kwargs.samples, explain_kwargs.noise)." },
  { identifier: "attention", method_name: "Attention", description: "The last layer's attention from the first token, averaged over heads." },
  { identifier: "scaled_attention", method_name: "Scaled attention", description: "Attention weights times the gradient of the target with respect to them." },
]);

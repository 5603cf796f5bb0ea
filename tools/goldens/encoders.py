"""The encoder forward passes in plain PyTorch (float64), written from the Hugging Face model
definitions, reading a fixture's weights by name (weights.py). Independent of the ONNX graph.

Families: BERT (post-LayerNorm, absolute positions 0..S-1, token types), RoBERTa (as BERT, but
position ids counted from input_ids: padding_idx + cumulative count of non-pad tokens, pad
tokens keep padding_idx) and DistilBERT (no token types, q scaled before the product,
sa_layer_norm / output_layer_norm). Heads: base, sequence-, token-classification, QA.

`inputs_embeds`, when given, replaces only the word-embedding lookup (positions and token types
still come from input_ids / token_type_ids): that is the leaf the gradient goldens use.
"""
import math
from dataclasses import dataclass, field

import torch

# The additive bias on masked attention scores, as transformers uses: float32's lowest value.
MASK_MIN = torch.finfo(torch.float32).min

HEADS = {
    "Model": "base",
    "ForSequenceClassification": "sequence-classification",
    "ForTokenClassification": "token-classification",
    "ForQuestionAnswering": "question-answering",
}


def family_and_head(config):
    family = config["model_type"]
    arch = config["architectures"][0]
    for suffix, head in HEADS.items():
        if arch.endswith(suffix):
            return family, head
    raise ValueError(f"unknown architecture {arch}")


@dataclass
class Forward:
    outputs: dict
    attentions: list = field(default_factory=list)  # per layer [B, NH, S, S] softmax probabilities
    hidden_states: list = field(default_factory=list)  # embedding output, then each layer's output


def dense(w, name, x):
    # Fixture dense weights are [in, out] (MatMul layout).
    return x @ w(f"{name}.weight") + w(f"{name}.bias")


def layer_norm(w, name, x, eps):
    return torch.nn.functional.layer_norm(x, x.shape[-1:], w(f"{name}.weight"), w(f"{name}.bias"), eps)


def gelu(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def roberta_position_ids(input_ids, padding_idx):
    not_pad = (input_ids != padding_idx).long()
    return torch.cumsum(not_pad, dim=1) * not_pad + padding_idx


def layer_norm_eps(cfg):
    # DistilBERT's config has no layer_norm_eps: transformers hard-codes 1e-12 for it.
    return cfg.get("layer_norm_eps", 1e-12)


def embeddings(w, family, cfg, input_ids, token_type_ids, inputs_embeds):
    eps = layer_norm_eps(cfg)
    words = w("embeddings.word_embeddings.weight")[input_ids] if inputs_embeds is None else inputs_embeds
    S = input_ids.shape[1]
    if family == "roberta":
        positions = w("embeddings.position_embeddings.weight")[roberta_position_ids(input_ids, cfg["pad_token_id"])]
    else:
        positions = w("embeddings.position_embeddings.weight")[torch.arange(S)][None]
    x = words + positions
    if family != "distilbert":
        types = token_type_ids if token_type_ids is not None else torch.zeros_like(input_ids)
        x = x + w("embeddings.token_type_embeddings.weight")[types]
    return layer_norm(w, "embeddings.LayerNorm", x, eps)


# Per family: where each layer's parameters live.
LAYER_NAMES = {
    "bert": dict(prefix="encoder.layer", q="attention.self.query", k="attention.self.key", v="attention.self.value",
                 o="attention.output.dense", ln1="attention.output.LayerNorm", ff1="intermediate.dense",
                 ff2="output.dense", ln2="output.LayerNorm"),
    "distilbert": dict(prefix="transformer.layer", q="attention.q_lin", k="attention.k_lin", v="attention.v_lin",
                       o="attention.out_lin", ln1="sa_layer_norm", ff1="ffn.lin1", ff2="ffn.lin2", ln2="output_layer_norm"),
}
LAYER_NAMES["roberta"] = LAYER_NAMES["bert"]


def num_layers(cfg):
    return cfg.get("num_hidden_layers", cfg.get("n_layers"))


def num_heads(cfg):
    return cfg.get("num_attention_heads", cfg.get("n_heads"))


def layer(w, family, cfg, l, x, bias):
    n = LAYER_NAMES[family]
    p = f"{n['prefix']}.{l}"
    eps = layer_norm_eps(cfg)
    B, S, H = x.shape
    NH = num_heads(cfg)
    D = H // NH
    split = lambda t: t.reshape(B, S, NH, D).transpose(1, 2)  # [B, NH, S, D]
    q = split(dense(w, f"{p}.{n['q']}", x))
    k = split(dense(w, f"{p}.{n['k']}", x))
    v = split(dense(w, f"{p}.{n['v']}", x))
    if family == "distilbert":
        scores = (q / math.sqrt(D)) @ k.transpose(-1, -2) + bias
    else:
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(D) + bias
    probs = torch.softmax(scores, dim=-1)
    context = (probs @ v).transpose(1, 2).reshape(B, S, H)
    attended = layer_norm(w, f"{p}.{n['ln1']}", dense(w, f"{p}.{n['o']}", context) + x, eps)
    inner = gelu(dense(w, f"{p}.{n['ff1']}", attended))
    out = layer_norm(w, f"{p}.{n['ln2']}", dense(w, f"{p}.{n['ff2']}", inner) + attended, eps)
    return out, probs


def head_outputs(w, family, head, hidden):
    if head == "base":
        out = {"last_hidden_state": hidden}
        if w.has("pooler.dense.weight"):
            out["pooler_output"] = torch.tanh(dense(w, "pooler.dense", hidden[:, 0]))
        return out
    if head == "sequence-classification":
        first = hidden[:, 0]
        if family == "roberta":
            return {"logits": dense(w, "classifier.out_proj", torch.tanh(dense(w, "classifier.dense", first)))}
        if family == "distilbert":
            return {"logits": dense(w, "classifier", torch.relu(dense(w, "pre_classifier", first)))}
        return {"logits": dense(w, "classifier", torch.tanh(dense(w, "pooler.dense", first)))}
    if head == "token-classification":
        return {"logits": dense(w, "classifier", hidden)}
    if head == "question-answering":
        both = dense(w, "qa_outputs", hidden)
        return {"start_logits": both[..., 0], "end_logits": both[..., 1]}
    raise ValueError(head)


def forward(w, input_ids, attention_mask, token_type_ids=None, inputs_embeds=None, keep_grads=False):
    """Runs the fixture's model. With keep_grads, attention probabilities retain their gradients."""
    cfg = w.config
    family, head = family_and_head(cfg)
    x = embeddings(w, family, cfg, input_ids, token_type_ids, inputs_embeds)
    bias = ((1.0 - attention_mask.to(torch.float64)) * MASK_MIN)[:, None, None, :]
    result = Forward(outputs={}, hidden_states=[x])
    for l in range(num_layers(cfg)):
        x, probs = layer(w, family, cfg, l, x, bias)
        if keep_grads:
            probs.retain_grad()
        result.attentions.append(probs)
        result.hidden_states.append(x)
    result.outputs = head_outputs(w, family, head, x)
    return result

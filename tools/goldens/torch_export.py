"""A "real exporter" graph: bert-tiny-sst's weights in an ordinary torch.nn BERT module
(nn.Embedding, nn.Linear, nn.LayerNorm, nn.GELU; no transformers), exported by
torch.onnx.export at opset 14 with dynamic batch and sequence axes. Its graph has the shapes
exporters emit (MatMul with transposed weight initializers, LayerNorm decomposed into
ReduceMean/Sub/Pow/Sqrt/Div, Shape/Slice chains for positions, Erf GELU), unlike our builder's.

Writes bert-tiny-sst-torch.onnx and bert-tiny-sst-torch.json (inputs, logits, and the gradient
of the predicted logits w.r.t. inputs_embeds) into the given folder.
"""
import math
import os

import torch
from torch import nn

from inputs import encode_batch
from jsonio import tensor, write
from weights import Weights, sha256_of

OPSET = 14


class SelfAttention(nn.Module):
    def __init__(self, hidden, heads):
        super().__init__()
        self.heads, self.head_dim = heads, hidden // heads
        self.query, self.key, self.value = nn.Linear(hidden, hidden), nn.Linear(hidden, hidden), nn.Linear(hidden, hidden)

    def split(self, x):
        return x.view(x.shape[0], x.shape[1], self.heads, self.head_dim).permute(0, 2, 1, 3)

    def forward(self, x, bias):
        q, k, v = self.split(self.query(x)), self.split(self.key(x)), self.split(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim) + bias
        probs = torch.softmax(scores, dim=-1)
        context = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous()
        return context.view(context.shape[0], context.shape[1], -1)


class DenseNorm(nn.Module):
    """dense, then LayerNorm over the residual sum (BERT's attention.output and output)."""

    def __init__(self, inner, hidden, eps):
        super().__init__()
        self.dense = nn.Linear(inner, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=eps)

    def forward(self, x, residual):
        return self.LayerNorm(self.dense(x) + residual)


class Attention(nn.Module):
    def __init__(self, hidden, heads, eps):
        super().__init__()
        self.self = SelfAttention(hidden, heads)
        self.output = DenseNorm(hidden, hidden, eps)

    def forward(self, x, bias):
        return self.output(self.self(x, bias), x)


class Intermediate(nn.Module):
    def __init__(self, hidden, inner):
        super().__init__()
        self.dense = nn.Linear(hidden, inner)
        self.intermediate_act_fn = nn.GELU()

    def forward(self, x):
        return self.intermediate_act_fn(self.dense(x))


class Layer(nn.Module):
    def __init__(self, hidden, heads, inner, eps):
        super().__init__()
        self.attention = Attention(hidden, heads, eps)
        self.intermediate = Intermediate(hidden, inner)
        self.output = DenseNorm(inner, hidden, eps)

    def forward(self, x, bias):
        attended = self.attention(x, bias)
        return self.output(self.intermediate(attended), attended)


class Encoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.layer = nn.ModuleList(Layer(cfg["hidden_size"], cfg["num_attention_heads"], cfg["intermediate_size"],
                                         cfg["layer_norm_eps"]) for _ in range(cfg["num_hidden_layers"]))

    def forward(self, x, bias):
        for layer in self.layer:
            x = layer(x, bias)
        return x


class Embeddings(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        H = cfg["hidden_size"]
        self.word_embeddings = nn.Embedding(cfg["vocab_size"], H)
        self.position_embeddings = nn.Embedding(cfg["max_position_embeddings"], H)
        self.token_type_embeddings = nn.Embedding(cfg["type_vocab_size"], H)
        self.LayerNorm = nn.LayerNorm(H, eps=cfg["layer_norm_eps"])
        self.register_buffer("position_ids", torch.arange(cfg["max_position_embeddings"])[None], persistent=False)

    def forward(self, input_ids, token_type_ids, inputs_embeds):
        words = self.word_embeddings(input_ids) if inputs_embeds is None else inputs_embeds
        positions = self.position_embeddings(self.position_ids[:, : input_ids.shape[1]])
        return self.LayerNorm(words + positions + self.token_type_embeddings(token_type_ids))


class Pooler(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.dense = nn.Linear(hidden, hidden)

    def forward(self, x):
        return torch.tanh(self.dense(x[:, 0]))


class Bert(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embeddings = Embeddings(cfg)
        self.encoder = Encoder(cfg)
        self.pooler = Pooler(cfg["hidden_size"])

    def forward(self, input_ids, attention_mask, token_type_ids, inputs_embeds):
        x = self.embeddings(input_ids, token_type_ids, inputs_embeds)
        bias = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * torch.finfo(torch.float32).min
        return self.pooler(self.encoder(x, bias))


class TinyBertClassifier(nn.Module):
    """Module names as in transformers' BertForSequenceClassification, so the exported
    initializers are called bert.embeddings.word_embeddings.weight etc."""

    def __init__(self, cfg, num_labels):
        super().__init__()
        self.bert = Bert(cfg)
        self.classifier = nn.Linear(cfg["hidden_size"], num_labels)

    def forward(self, input_ids, attention_mask, token_type_ids, inputs_embeds=None):
        return self.classifier(self.bert(input_ids, attention_mask, token_type_ids, inputs_embeds))


def load_module(w):
    module = TinyBertClassifier(w.config, len(w.config["id2label"]))
    linear_weights = {f"{name}.weight" for name, m in module.named_modules() if isinstance(m, nn.Linear)}
    with torch.no_grad():
        for name, p in module.named_parameters():
            value = w(name.removeprefix("bert."))
            # The fixture stores dense weights [in, out]; nn.Linear holds [out, in].
            p.copy_(value.T if name in linear_weights else value)
    return module.eval()


def export_bert(source_folder, out_dir):
    w = Weights(source_folder)
    module = load_module(w)
    onnx_path = os.path.join(out_dir, "bert-tiny-sst-torch.onnx")
    # Traced at a shape unlike the goldens' so the dynamic axes are exercised.
    dummy = (torch.tensor([[2, 5, 6, 7, 8, 9, 3]]), torch.ones(1, 7, dtype=torch.long), torch.zeros(1, 7, dtype=torch.long))
    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {n: {0: "batch", 1: "sequence"} for n in names}
    axes["logits"] = {0: "batch"}
    torch.onnx.export(module, dummy, onnx_path, input_names=names, output_names=["logits"], dynamic_axes=axes,
                      opset_version=OPSET, do_constant_folding=True)

    items, batch = encode_batch("sequence-classification", source_folder, w.config.get("pad_token_id", 0))
    ids, mask, types = (torch.tensor(batch[n]) for n in names)
    exact = module.double()
    embeds = exact.bert.embeddings.word_embeddings(ids).detach().requires_grad_(True)
    logits = exact(ids, mask, types, inputs_embeds=embeds)
    labels = logits.argmax(-1)
    cotangent = torch.nn.functional.one_hot(labels, logits.shape[-1]).to(torch.float64)
    (logits * cotangent).sum().backward()
    write(os.path.join(out_dir, "bert-tiny-sst-torch.json"), {
        "model": "bert-tiny-sst-torch.onnx",
        "model_sha256": sha256_of(onnx_path),
        "source_fixture": "bert-tiny-sst",
        "source_model_sha256": w.sha256,
        "generator": "tools/goldens/torch_export.py",
        "torch_version": torch.__version__,
        "opset": OPSET,
        "notes": (
            "Exported in float32 from a torch.nn module holding bert-tiny-sst's weights (traced at batch 1, length 7; "
            "dynamic axes batch and sequence). Goldens from the same module in float64 on the padded batch below. "
            "grad_inputs_embeds = d sum_i logits[i, label_i] / d inputs_embeds, inputs_embeds = word_embeddings(input_ids) "
            "[B, S, H] (positions and token types added after it), i.e. the vector-Jacobian product with "
            "grad_logits = one_hot(label_i) per item; padding rows are exactly zero."
        ),
        "texts": [i["texts"] for i in items],
        "inputs": batch,
        "labels": labels.tolist(),
        "logits": tensor(logits),
        "grad_logits": tensor(cotangent),
        "grad_inputs_embeds": tensor(embeds.grad),
    })

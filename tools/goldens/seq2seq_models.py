"""T5 and BART forward passes in plain PyTorch (float64), written from the Hugging Face model
definitions (T5ForConditionalGeneration v1.0, BartForConditionalGeneration), reading the
fixture's weights by name from the initializers of every .onnx file in the folder (never
running a graph). No cache: every decoder call recomputes the whole decoder prefix, which is
what the ONNX graphs' cached steps are checked against.

Dense weights are stored [in, out] (MatMul layout). Masked attention scores get float32's lowest
value added, as transformers does for float32 models.
"""
import glob
import json
import math
import os

import onnx
import torch
from onnx import numpy_helper

from weights import sha256_of

MASK_MIN = torch.finfo(torch.float32).min


class FolderWeights:
    """Float64 parameters by name from all .onnx files of a folder (outer graphs only)."""

    def __init__(self, folder):
        with open(os.path.join(folder, "config.json")) as f:
            self.config = json.load(f)
        self.tensors, self.sha256 = {}, {}
        for path in sorted(glob.glob(os.path.join(folder, "*.onnx")) + glob.glob(os.path.join(folder, "onnx", "*.onnx"))):
            self.sha256[os.path.relpath(path, folder)] = sha256_of(path)
            for t in onnx.load(path).graph.initializer:
                if t.name.startswith("const_"):
                    continue
                value = torch.from_numpy(numpy_helper.to_array(t).copy()).to(torch.float64)
                if t.name in self.tensors:
                    assert torch.equal(self.tensors[t.name], value), f"{t.name} differs between files"
                self.tensors[t.name] = value

    def __call__(self, name):
        return self.tensors[name]


def heads(x, n):
    b, s, d = x.shape
    return x.view(b, s, n, d // n).transpose(1, 2)


def merge(x):
    b, h, s, d = x.shape
    return x.transpose(1, 2).reshape(b, s, h * d)


def attention(q, k, v, bias):
    return merge(torch.softmax(q @ k.transpose(-1, -2) + bias, dim=-1) @ v)


def padding_bias(mask):
    return (1.0 - mask.to(torch.float64))[:, None, None, :] * MASK_MIN


def causal_bias(t):
    return torch.triu(torch.full((t, t), MASK_MIN, dtype=torch.float64), diagonal=1)


class T5:
    def __init__(self, w):
        self.w, c = w, w.config
        self.n, self.d_model = c["num_heads"], c["d_model"]
        self.eps = c["layer_norm_epsilon"]
        self.buckets, self.max_distance = c["relative_attention_num_buckets"], c["relative_attention_max_distance"]

    def bucket(self, rel, bidirectional):
        # transformers' T5Attention._relative_position_bucket, float32 log as there.
        num_buckets, ret = self.buckets, 0
        if bidirectional:
            num_buckets //= 2
            ret = (rel > 0).to(torch.long) * num_buckets
            rel = torch.abs(rel)
        else:
            rel = -torch.min(rel, torch.zeros_like(rel))
        max_exact = num_buckets // 2
        large = max_exact + (
            torch.log(rel.float() / max_exact) / math.log(self.max_distance / max_exact) * (num_buckets - max_exact)
        ).to(torch.long)
        large = torch.min(large, torch.full_like(large, num_buckets - 1))
        return ret + torch.where(rel < max_exact, rel, large)

    def position_bias(self, stack, q_len, k_len, bidirectional):
        rel = torch.arange(k_len)[None, :] - torch.arange(q_len)[:, None]
        table = self.w(f"{stack}.block.0.layer.0.SelfAttention.relative_attention_bias.weight")
        return table[self.bucket(rel, bidirectional)].permute(2, 0, 1)[None]

    def norm(self, name, x):
        return self.w(f"{name}.weight") * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))

    def attn(self, p, x, kv, bias):
        lin = lambda which, t: heads(t @ self.w(f"{p}.{which}.weight"), self.n)
        return attention(lin("q", x), lin("k", kv), lin("v", kv), bias) @ self.w(f"{p}.o.weight")

    def ff(self, p, x):
        return torch.relu(x @ self.w(f"{p}.DenseReluDense.wi.weight")) @ self.w(f"{p}.DenseReluDense.wo.weight")

    def encode(self, ids, mask):
        x = self.w("shared.weight")[ids]
        s = ids.shape[1]
        bias = self.position_bias("encoder", s, s, True) + padding_bias(mask)
        for l in range(self.w.config["num_layers"]):
            p = f"encoder.block.{l}.layer"
            h = self.norm(f"{p}.0.layer_norm", x)
            x = x + self.attn(f"{p}.0.SelfAttention", h, h, bias)
            x = x + self.ff(f"{p}.1", self.norm(f"{p}.1.layer_norm", x))
        return self.norm("encoder.final_layer_norm", x)

    def decode(self, ids, enc, enc_mask):
        x = self.w("shared.weight")[ids]
        t = ids.shape[1]
        self_bias = self.position_bias("decoder", t, t, False) + causal_bias(t)
        cross_bias = padding_bias(enc_mask)
        for l in range(self.w.config["num_decoder_layers"]):
            p = f"decoder.block.{l}.layer"
            h = self.norm(f"{p}.0.layer_norm", x)
            x = x + self.attn(f"{p}.0.SelfAttention", h, h, self_bias)
            x = x + self.attn(f"{p}.1.EncDecAttention", self.norm(f"{p}.1.layer_norm", x), enc, cross_bias)
            x = x + self.ff(f"{p}.2", self.norm(f"{p}.2.layer_norm", x))
        x = self.norm("decoder.final_layer_norm", x) * self.d_model ** -0.5  # tie_word_embeddings
        return x @ self.w("shared.weight").T


class Bart:
    OFFSET = 2

    def __init__(self, w):
        self.w, c = w, w.config
        self.n = c["decoder_attention_heads"]
        self.scaling = (c["d_model"] // self.n) ** -0.5
        self.eps = 1e-5

    def ln(self, name, x):
        return torch.nn.functional.layer_norm(x, x.shape[-1:], self.w(f"{name}.weight"), self.w(f"{name}.bias"), self.eps)

    def lin(self, name, x):
        return x @ self.w(f"{name}.weight") + self.w(f"{name}.bias")

    def attn(self, p, x, kv, bias):
        q = heads(self.lin(f"{p}.q_proj", x) * self.scaling, self.n)
        return self.lin(f"{p}.out_proj", attention(q, heads(self.lin(f"{p}.k_proj", kv), self.n), heads(self.lin(f"{p}.v_proj", kv), self.n), bias))

    def ffn(self, p, x):
        h = self.lin(f"{p}.fc1", x)
        return self.lin(f"{p}.fc2", 0.5 * h * (1.0 + torch.erf(h / math.sqrt(2.0))))

    def embed(self, stack, ids):
        pos = torch.arange(ids.shape[1]) + self.OFFSET
        x = self.w("model.shared.weight")[ids] + self.w(f"model.{stack}.embed_positions.weight")[pos]
        return self.ln(f"model.{stack}.layernorm_embedding", x)

    def encode(self, ids, mask):
        x, bias = self.embed("encoder", ids), padding_bias(mask)
        for l in range(self.w.config["encoder_layers"]):
            p = f"model.encoder.layers.{l}"
            x = self.ln(f"{p}.self_attn_layer_norm", x + self.attn(f"{p}.self_attn", x, x, bias))
            x = self.ln(f"{p}.final_layer_norm", x + self.ffn(p, x))
        return x

    def decode(self, ids, enc, enc_mask):
        x = self.embed("decoder", ids)
        self_bias, cross_bias = causal_bias(ids.shape[1]), padding_bias(enc_mask)
        for l in range(self.w.config["decoder_layers"]):
            p = f"model.decoder.layers.{l}"
            x = self.ln(f"{p}.self_attn_layer_norm", x + self.attn(f"{p}.self_attn", x, x, self_bias))
            x = self.ln(f"{p}.encoder_attn_layer_norm", x + self.attn(f"{p}.encoder_attn", x, enc, cross_bias))
            x = self.ln(f"{p}.final_layer_norm", x + self.ffn(p, x))
        return x @ self.w("model.shared.weight").T + self.w("final_logits_bias")


def load_model(folder):
    w = FolderWeights(folder)
    kind = w.config["model_type"]
    return {"t5": T5, "bart": Bart}[kind](w)

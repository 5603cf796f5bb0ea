"""PyTorch goldens for AdapterHub adapters on the tiny base fixtures (issue #16), written WITHOUT the
adapters library, from the maths in the research notes (adapters.md §1.3, §1.4, §2.1):

  bottleneck at a sub-layer with output h = dense(x), residual r and pretrained LayerNorm LN0:
    res = h                       (residual_before_ln true; "post_add": h + r; false: the adapter input)
    a   = LN0(h + r) if original_ln_before else h
    o   = s * (W_u act(W_d a + b_d) + b_u) + res
    out = LN0(o + r) if original_ln_after else o
  Pfeiffer / seq_bn:  FFN output only, relu          → LN0(h + r + f(LN0(h + r)))
  Houlsby / double_seq_bn: attention and FFN output, swish → LN0(h + r + f(h)) at both places
  LoRA (q, v):        y = x W + b + (alpha / r) · x Aᵀ Bᵀ
  heads: classification  W_L(tanh(W_1 c + b_1)) + b_L on the first token's hidden state;
         tagging         per token W h + b;  question_answering  per token, [..., 0] start, [..., 1] end
  average (AdapterHub average_adapter, "linear"): every adapter tensor Σ λ_i Φ_i with λ normalised
         (here 1/2, 1/2); heads likewise (average_head).

The base encoder is tools/goldens/encoders.py's float64 forward (embeddings, attention, LayerNorms, GELU
reused by composition; only the layer is re-assembled here with adapter hooks). Adapter files are read
by adapters_io.py (torch.load / a struct-based safetensors parser). Writes test/goldens/adapters/<base>.json.

    /usr/bin/python3 tools/goldens/adapters.py [--fixtures .cache/fixtures] [--out test/goldens/adapters]
The adapter folders must exist first: <fixtures>/<base>-adapters/<adapter>/ (lib/fixtures/adapters-fixture.ts,
e.g. any run of test/unit/adapters-fixture.test.ts writes them).
"""
import argparse
import math
import os
import sys

sys.dont_write_bytecode = True

import torch  # noqa: E402

from adapters_io import load_folder  # noqa: E402
from encoders import LAYER_NAMES, MASK_MIN, dense, embeddings, gelu, layer_norm, layer_norm_eps, num_heads, num_layers  # noqa: E402
from inputs import encode_batch  # noqa: E402
from jsonio import tensor, write  # noqa: E402
from weights import Weights, sha256_of  # noqa: E402

BASES = ["bert-tiny-base", "roberta-tiny-base"]
# (case name, adapter folders averaged with equal weights, input set)
CASES = [
    ("pfeiffer-sst", ["pfeiffer-sst"], "sequence-classification"),
    ("houlsby-ner", ["houlsby-ner"], "token-classification"),
    ("lora-squad", ["lora-squad"], "question-answering"),
    ("average(pfeiffer-sst,pfeiffer-sentiment)", ["pfeiffer-sst", "pfeiffer-sentiment"], "sequence-classification"),
]

ACTIVATIONS = {
    "relu": torch.relu,
    "swish": lambda x: x * torch.sigmoid(x),
    "silu": lambda x: x * torch.sigmoid(x),
    "gelu": gelu,
    "gelu_new": lambda x: 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3))),
    "tanh": torch.tanh,
}


class Adapter:
    """One adapter's config and float64 tensors, looked up by layer and role (keys without the model prefix)."""

    def __init__(self, config, tensors, head_config, head):
        self.config = config["config"]
        self.name = config["name"]
        self.tensors = {k.split(".", 1)[1] if k.startswith(("bert.", "roberta.")) else k: v for k, v in tensors.items()}
        self.head_config = head_config["config"]
        self.head = head
        self.is_lora = self.config.get("architecture") == "lora"
        for key in ("ln_before", "ln_after", "use_gating", "is_parallel", "phm_layer"):
            if self.config.get(key):
                raise ValueError(f"golden maths does not cover {key}")

    def bottleneck(self, l, location):
        p = f"encoder.layer.{l}.{location}.adapters.{self.name}"
        if f"{p}.adapter_up.weight" not in self.tensors:
            return None
        t = lambda s: self.tensors[f"{p}.{s}"]
        return t("adapter_down.0.weight"), t("adapter_down.0.bias"), t("adapter_up.weight"), t("adapter_up.bias")

    def lora(self, l, module):
        p = f"encoder.layer.{l}.{module}.loras.{self.name}"
        if f"{p}.lora_A" not in self.tensors:
            return None
        return self.tensors[f"{p}.lora_A"], self.tensors[f"{p}.lora_B"]


def average(adapters):
    """AdapterHub's linear average_adapter (and average_head) with equal weights: Σ λ_i Φ_i, λ_i = 1/n."""
    first = adapters[0]
    lam = 1.0 / len(adapters)
    rename = lambda a, k: k.replace(f".{a.name}.", ".avg.")
    keys = [rename(first, k) for k in first.tensors]
    for a in adapters[1:]:
        ignored = lambda c: {k: v for k, v in c.items() if k not in ("dropout", "init_weights")}
        if ignored(a.config) != ignored(first.config):
            raise ValueError("average_adapter needs equal configs")
        if sorted(rename(a, k) for k in a.tensors) != sorted(keys):
            raise ValueError("average_adapter needs equal keys")
    tensors = {k: sum(lam * a.tensors[k.replace(".avg.", f".{a.name}.")] for a in adapters) for k in keys}
    head = {rename(first, k): sum(lam * a.head[k.replace(f".{first.name}.", f".{a.name}.")] for a in adapters) for k in first.head}
    out = Adapter({"config": first.config, "name": "avg"}, tensors, {"config": first.head_config}, head)
    return out


def apply_bottleneck(cfg, weights, h, r, ln0):
    wd, bd, wu, bu = weights
    rbl = cfg.get("residual_before_ln", True)
    residual = h if rbl is True else None
    if cfg["original_ln_before"]:
        x = h + r
        if rbl == "post_add":
            residual = x
        x = ln0(x)
    else:
        x = h
    if rbl is False:
        residual = x
    z = ACTIVATIONS[cfg["non_linearity"].lower()](x @ wd.T + bd)
    scaling = cfg.get("scaling", 1.0)
    o = (z @ wu.T + bu) * scaling + residual
    return ln0(o + r) if cfg["original_ln_after"] else o


def adapted_layer(w, family, cfg, l, x, bias, adapter):
    n = LAYER_NAMES[family]
    p = f"{n['prefix']}.{l}"
    eps = layer_norm_eps(cfg)
    B, S, H = x.shape
    NH = num_heads(cfg)
    D = H // NH
    scale = adapter.config["alpha"] / adapter.config["r"] if adapter.is_lora else 0.0

    def projected(name, module, inp):
        y = dense(w, f"{p}.{n[name]}", inp)
        pair = adapter.lora(l, module) if adapter.is_lora else None
        return y if pair is None else y + scale * (inp @ pair[0].T @ pair[1].T)

    split = lambda t: t.reshape(B, S, NH, D).transpose(1, 2)
    q = split(projected("q", "attention.self.query", x))
    k = split(projected("k", "attention.self.key", x))
    v = split(projected("v", "attention.self.value", x))
    probs = torch.softmax((q @ k.transpose(-1, -2)) / math.sqrt(D) + bias, dim=-1)
    context = (probs @ v).transpose(1, 2).reshape(B, S, H)
    ln1 = lambda t: layer_norm(w, f"{p}.{n['ln1']}", t, eps)
    ln2 = lambda t: layer_norm(w, f"{p}.{n['ln2']}", t, eps)
    h1 = dense(w, f"{p}.{n['o']}", context)
    mod = None if adapter.is_lora else adapter.bottleneck(l, "attention.output")
    attended = ln1(h1 + x) if mod is None else apply_bottleneck(adapter.config, mod, h1, x, ln1)
    inner = gelu(projected("ff1", "intermediate.dense", attended))
    h2 = projected("ff2", "output.dense", inner)
    mod = None if adapter.is_lora else adapter.bottleneck(l, "output")
    return ln2(h2 + attended) if mod is None else apply_bottleneck(adapter.config, mod, h2, attended, ln2)


def head_outputs(adapter, hidden):
    cfg = adapter.head_config
    linears = sorted({int(k.split(".")[2]) for k in adapter.head})
    layer = lambda i, x: x @ adapter.head[f"heads.{adapter.name}.{i}.weight"].T + adapter.head[f"heads.{adapter.name}.{i}.bias"]
    act = ACTIVATIONS[cfg.get("activation_function", "tanh")]
    if cfg["head_type"] == "classification":
        x = hidden[:, 0]
        for i in linears[:-1]:
            x = act(layer(i, x))
        return {"logits": layer(linears[-1], x)}
    if cfg["head_type"] == "tagging":
        return {"logits": layer(linears[-1], hidden)}
    if cfg["head_type"] == "question_answering":
        both = layer(linears[-1], hidden)
        return {"start_logits": both[..., 0], "end_logits": both[..., 1]}
    raise ValueError(cfg["head_type"])


def run(w, family, adapter, feeds):
    cfg = w.config
    x = embeddings(w, family, cfg, feeds["input_ids"], feeds["token_type_ids"], None)
    bias = ((1.0 - feeds["attention_mask"].to(torch.float64)) * MASK_MIN)[:, None, None, :]
    for l in range(num_layers(cfg)):
        x = adapted_layer(w, family, cfg, l, x, bias, adapter)
    return {"last_hidden_state": x, **head_outputs(adapter, x)}


def files_of(folder):
    return {name: sha256_of(os.path.join(folder, name)) for name in sorted(os.listdir(folder))}


def golden(base, fixtures):
    folder = os.path.join(fixtures, base)
    w = Weights(folder)
    family = w.config["model_type"]
    cases = {}
    for case, names, head in CASES:
        folders = [os.path.join(fixtures, f"{base}-adapters", n) for n in names]
        adapters = [Adapter(*load_folder(f)) for f in folders]
        adapter = adapters[0] if len(adapters) == 1 else average(adapters)
        items, batch = encode_batch(head, folder, w.config.get("pad_token_id", 0))
        feeds = {k: torch.tensor(v) for k, v in batch.items()}
        with torch.no_grad():
            outputs = run(w, family, adapter, feeds)
        entry = {
            "adapters": names,
            "weights": [1.0 / len(names)] * len(names),
            "method": "lora" if adapter.is_lora else ("houlsby" if adapter.config["mh_adapter"] else "pfeiffer"),
            "head_type": adapter.head_config["head_type"],
            "adapter_files": {n: files_of(f) for n, f in zip(names, folders)},
            "texts": [i["texts"] for i in items],
            "inputs": batch,
            "outputs": {k: tensor(v) for k, v in outputs.items()},
        }
        if len(adapters) > 1:
            # SQuARE's observable behaviour (adapter-transformers 3.1.0 Stack): the last adapter's own head.
            last = Adapter(*load_folder(folders[-1]))
            head_only = Adapter({"config": adapter.config, "name": last.name}, {}, {"config": last.head_config}, last.head)
            entry["outputs_with_last_head"] = {k: tensor(v) for k, v in head_outputs(head_only, outputs["last_hidden_state"]).items()}
        cases[case] = entry
    return {
        "fixture": base,
        "family": family,
        "model_sha256": w.sha256,
        "generator": "tools/goldens/adapters.py",
        "torch_version": torch.__version__,
        "notes": NOTES,
        "cases": cases,
    }


NOTES = (
    "Float64 PyTorch forward of the base fixture (model.onnx initializers) with one AdapterHub adapter, or the linear "
    "average of several (AdapterHub average_adapter / average_head with equal weights), written from the maths of "
    "adapters.md, not with the adapters library. Adapter weights are torch's [out, in]; the base's dense weights are "
    "[in, out]. inputs: one right-padded batch of two items; outputs over the whole padded batch (padding positions "
    "included). last_hidden_state is the encoder output with the adapter; the head outputs apply the adapter's head "
    "(classification on the first token, tagging per token, question_answering start/end per token). "
    "outputs_with_last_head (averages only): the averaged encoder with the last adapter's own head. adapter_files: "
    "sha256 of each file the golden read."
)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fixtures", default=".cache/fixtures")
    parser.add_argument("--out", default="test/goldens/adapters")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for base in BASES:
        write(os.path.join(args.out, f"{base}.json"), golden(base, args.fixtures))
        print(f"adapters/{base}.json", file=sys.stderr)


if __name__ == "__main__":
    main()

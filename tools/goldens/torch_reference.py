"""PyTorch goldens for the generated fixture models (issues #4 and #6).

Re-implements each fixture's forward pass in plain PyTorch (encoders.py), reading the weights
from the model.onnx initializers by name (never running the ONNX graph), and writes under
test/goldens/:
  forward/<fixture>.json    fixed inputs (ids, masks, type ids of a padded batch of two),
                            the head's outputs, all attention probabilities and hidden states,
                            and the sha256 of the model.onnx read
  gradients/<fixture>.json  SPEC §7 gradients and word scores per item (explain.py)
  torch-export/             a torch.onnx.export graph of bert-tiny-sst with its goldens (torch_export.py)

Needs Debian's python3-torch and python3-onnx; run with the system interpreter, after the
fixtures exist (any test run builds them in .cache/fixtures):
    /usr/bin/python3 tools/goldens/torch_reference.py [--fixtures .cache/fixtures] [--out test/goldens]
CI does not install torch: it compares against the committed files.
"""
import argparse
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ next to the sources

import torch  # noqa: E402

from encoders import forward, family_and_head
from explain import explain_item, NOTES as GRADIENT_NOTES
from inputs import encode_batch
from jsonio import tensor, write
from torch_export import export_bert
from weights import Weights

FAMILIES = ["bert", "roberta", "distilbert"]
FORWARD_FIXTURES = [f"{family}-tiny-{head}" for family in FAMILIES for head in ("base", "sst", "ner", "qa")]
GRADIENT_FIXTURES = [f"{family}-tiny-{head}" for family in FAMILIES for head in ("sst", "qa")]
EXPORT_SOURCE = "bert-tiny-sst"

FORWARD_NOTES = (
    "Float64 PyTorch forward pass (tools/goldens/encoders.py) on the float32 weights of model.onnx. "
    "inputs is one padded batch (right padding with pad id, attention_mask 0); outputs, attentions and hidden_states "
    "cover the whole padded batch, padding positions included (their values are finite and deterministic). "
    "attentions[l]: [B, NH, S, S] softmax probabilities of layer l; hidden_states[0]: embedding output, "
    "hidden_states[l + 1]: output of layer l. Tensors are {shape, data} in C order. token_type_ids is given for every "
    "family (the tokenizer's type ids); graphs without that input (RoBERTa, DistilBERT) do not take it. RoBERTa's "
    "position ids come from input_ids (padding_idx 1 + running count of non-pad tokens; pad tokens get padding_idx)."
)


def forward_golden(name, folder):
    w = Weights(folder)
    family, head = family_and_head(w.config)
    items, batch = encode_batch(head, folder, w.config.get("pad_token_id", 0))
    feeds = {k: torch.tensor(v) for k, v in batch.items()}
    with torch.no_grad():
        run = forward(w, feeds["input_ids"], feeds["attention_mask"], feeds["token_type_ids"])
    return {
        **header(name, family, head, w, FORWARD_NOTES),
        "texts": [i["texts"] for i in items],
        "inputs": batch,
        "outputs": {k: tensor(v) for k, v in run.outputs.items()},
        "attentions": [tensor(a) for a in run.attentions],
        "hidden_states": [tensor(h) for h in run.hidden_states],
    }


def header(name, family, head, w, notes):
    """The fields every golden file starts with: what it was computed from, and how."""
    return {
        "fixture": name,
        "family": family,
        "head": head,
        "model_sha256": w.sha256,
        "generator": "tools/goldens/torch_reference.py",
        "torch_version": torch.__version__,
        "notes": notes,
    }


def gradient_golden(name, folder):
    w = Weights(folder)
    family, head = family_and_head(w.config)
    items, _ = encode_batch(head, folder, w.config.get("pad_token_id", 0))
    return {
        **header(name, family, head, w, GRADIENT_NOTES),
        "items": [explain_item(w, item, seed=1000 + i) for i, item in enumerate(items)],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fixtures", default=".cache/fixtures")
    parser.add_argument("--out", default="test/goldens")
    parser.add_argument("--only", nargs="*", help="fixture names to (re)write; default all")
    args = parser.parse_args()
    wanted = lambda n: not args.only or n in args.only
    for sub in ("forward", "gradients", "torch-export"):
        os.makedirs(os.path.join(args.out, sub), exist_ok=True)
    for name in filter(wanted, FORWARD_FIXTURES):
        write(os.path.join(args.out, "forward", f"{name}.json"), forward_golden(name, os.path.join(args.fixtures, name)))
        print(f"forward/{name}.json", file=sys.stderr)
    for name in filter(wanted, GRADIENT_FIXTURES):
        write(os.path.join(args.out, "gradients", f"{name}.json"), gradient_golden(name, os.path.join(args.fixtures, name)))
        print(f"gradients/{name}.json", file=sys.stderr)
    if wanted("torch-export"):
        export_bert(os.path.join(args.fixtures, EXPORT_SOURCE), os.path.join(args.out, "torch-export"))
        print("torch-export/", file=sys.stderr)


if __name__ == "__main__":
    torch.set_grad_enabled(True)
    main()

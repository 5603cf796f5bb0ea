"""Small weight files written by torch.save itself (Debian python3-torch), committed under
test/fixtures/adapters/ so the Node tests check the .bin reader against torch's own writer even
where torch is not installed (CI):
  torch-dtypes.bin      protocol 2 (torch.save's default): float32, float16, bfloat16, float64 tensors; a
                        transposed (non-contiguous) view; two views into one shared storage at non-zero
                        storage offsets; an nn.Parameter; a 0-d tensor; and a real module state dict's
                        OrderedDict with its _metadata attribute (pickled through BUILD)
  torch-dtypes-p4.bin   the same state dict with pickle_protocol=4 (FRAME, SHORT_BINUNICODE, MEMOIZE,
                        STACK_GLOBAL)
  torch-dtypes.json     every tensor as torch reads it back (adapters_dump.py's format)
    /usr/bin/python3 tools/goldens/adapters_torch_files.py [--out test/fixtures/adapters]
"""
import argparse
import json
import os
import sys

sys.dont_write_bytecode = True

import torch  # noqa: E402

from adapters_dump import NAMES  # noqa: E402


def state_dict():
    g = torch.Generator().manual_seed(16)
    linear = torch.nn.Linear(4, 3)
    with torch.no_grad():
        linear.weight.copy_(torch.randn(3, 4, generator=g))
        linear.bias.copy_(torch.randn(3, generator=g))
    sd = linear.state_dict()  # an OrderedDict with _metadata
    base = torch.randn(6, 5, generator=g)
    shared = torch.randn(40, generator=g)
    sd["f16"] = torch.randn(2, 3, generator=g).to(torch.float16)
    sd["bf16"] = torch.randn(3, 2, generator=g).to(torch.bfloat16)
    sd["f64"] = torch.randn(2, 2, 2, generator=g).to(torch.float64)
    sd["transposed"] = base.t()  # stride (1, 5)
    sd["view_a"] = shared[7:19].view(3, 4)  # offset 7 into a 40-element storage
    sd["view_b"] = shared[20:].view(4, 5)[:, 1:4]  # offset 21, stride (5, 1), shares the storage with view_a
    sd["param"] = torch.nn.Parameter(torch.randn(5, generator=g))
    sd["scalar"] = torch.tensor(2.5)
    return sd


def dump(sd):
    return {k: {"dtype": NAMES[t.dtype], "shape": list(t.shape), "data": t.detach().to(torch.float32).to(torch.float64).reshape(-1).tolist()} for k, t in sd.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="test/fixtures/adapters")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    sd = state_dict()
    torch.save(sd, os.path.join(args.out, "torch-dtypes.bin"))
    torch.save(sd, os.path.join(args.out, "torch-dtypes-p4.bin"), pickle_protocol=4)
    with open(os.path.join(args.out, "torch-dtypes.json"), "w") as f:
        json.dump({"generator": "tools/goldens/adapters_torch_files.py", "torch_version": torch.__version__, "tensors": dump(sd)}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()

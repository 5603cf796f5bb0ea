"""Prints, as JSON, every tensor of the given weight files (safetensors or torch .bin) as read by torch:
{path: {name: {"dtype", "shape", "data"}}}, data as float32 values (exact: repr of the float64 of each
float32). The Node adapter tests call it as an independent reader when /usr/bin/python3 has torch:
    /usr/bin/python3 tools/goldens/adapters_dump.py FILE...
"""
import json
import sys

sys.dont_write_bytecode = True

import torch  # noqa: E402

from adapters_io import read_weights  # noqa: E402

NAMES = {torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16", torch.float64: "float64"}


def main():
    out = {}
    for path in sys.argv[1:]:
        out[path] = {
            name: {"dtype": NAMES[t.dtype], "shape": list(t.shape), "data": t.to(torch.float32).to(torch.float64).reshape(-1).tolist()}
            for name, t in read_weights(path).items()
        }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()

"""Compact golden JSON: tensors as {"shape", "data"} with floats at 7 significant digits
(float32 carries about 7, and the Node tests compare at 1e-4)."""
import json

import torch


def num(x, digits=7):
    return float(f"{float(x):.{digits}g}")


def tensor(t, digits=7):
    t = t.detach().to(torch.float64).cpu()
    return {"shape": list(t.shape), "data": [num(x, digits) for x in t.reshape(-1).tolist()]}


def write(path, value):
    with open(path, "w") as f:
        json.dump(value, f, separators=(",", ":"))
        f.write("\n")

"""Compact golden JSON: tensors as {"shape", "data"} with floats at 7 significant digits
(float32 carries about 7, and the Node tests compare at 1e-4). Objects and lists above the
tensors are spread over lines (one tensor per line), so a regenerated golden diffs readably."""
import json

import torch

SPREAD_DEPTH = 3


def num(x, digits=7):
    return float(f"{float(x):.{digits}g}")


def tensor(t, digits=7):
    t = t.detach().to(torch.float64).cpu()
    return {"shape": list(t.shape), "data": [num(x, digits) for x in t.reshape(-1).tolist()]}


def is_tensor(value):
    return isinstance(value, dict) and set(value) == {"shape", "data"}


def dumps(value, depth=0):
    compact = lambda v: json.dumps(v, separators=(",", ":"))
    if depth >= SPREAD_DEPTH or is_tensor(value):
        return compact(value)
    if isinstance(value, dict):
        return "{\n" + ",\n".join(f"{compact(k)}:{dumps(v, depth + 1)}" for k, v in value.items()) + "\n}"
    if isinstance(value, list) and any(isinstance(v, dict) for v in value):
        return "[\n" + ",\n".join(dumps(v, depth + 1) for v in value) + "\n]"
    return compact(value)


def write(path, value):
    with open(path, "w") as f:
        f.write(dumps(value))
        f.write("\n")

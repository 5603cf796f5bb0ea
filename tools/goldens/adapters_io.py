"""Reading AdapterHub adapter folders in Python, independently of the TypeScript reader (lib/adapters):
safetensors parsed here with struct + json (Debian has no python3-safetensors), pytorch_*.bin through
torch.load(weights_only=True). Used by the adapter goldens (adapters.py) and, as an independent reader,
by the Node tests (adapters_dump.py)."""
import json
import os
import struct

import torch

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64}


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n].decode("utf-8"))
    data = raw[8 + n :]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        chunk = bytearray(data[begin:end])
        t = torch.frombuffer(chunk, dtype=DTYPES[info["dtype"]]) if chunk else torch.empty(0, dtype=DTYPES[info["dtype"]])
        out[name] = t.reshape(info["shape"]).clone()
    return out


def read_weights(path):
    if path.endswith(".safetensors"):
        return read_safetensors(path)
    return dict(torch.load(path, map_location="cpu", weights_only=True))


def pick(folder, *names):
    for name in names:
        if os.path.exists(os.path.join(folder, name)):
            return os.path.join(folder, name)
    raise FileNotFoundError(f"{folder}: none of {names}")


def load_folder(folder):
    """(adapter_config.json, adapter tensors, head_config.json, head tensors), tensors in float64."""
    with open(os.path.join(folder, "adapter_config.json")) as f:
        config = json.load(f)
    with open(os.path.join(folder, "head_config.json")) as f:
        head_config = json.load(f)
    weights = read_weights(pick(folder, "adapter.safetensors", "pytorch_adapter.bin"))
    head = read_weights(pick(folder, "model_head.safetensors", "pytorch_model_head.bin"))
    f64 = lambda d: {k: v.to(torch.float64) for k, v in d.items()}
    return config, f64(weights), head_config, f64(head)

"""Fixture weights read straight from a model.onnx's initializers (never by running its graph).

Names follow Hugging Face without the model prefix (`embeddings.word_embeddings.weight`); a
prefixed spelling (`bert.`, `roberta.`, `distilbert.`) is accepted too, so the generator may
switch to it. Dense weights in the fixtures are stored [in, out] (MatMul layout).
"""
import hashlib
import json
import os

import onnx
import torch
from onnx import numpy_helper

PREFIXES = ("", "bert.", "roberta.", "distilbert.")


def sha256_of(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class Weights:
    """Float64 tensors by Hugging Face name, plus the folder's config.json."""

    def __init__(self, folder):
        self.folder = folder
        self.model_path = os.path.join(folder, "model.onnx")
        self.sha256 = sha256_of(self.model_path)
        with open(os.path.join(folder, "config.json")) as f:
            self.config = json.load(f)
        model = onnx.load(self.model_path)
        self.tensors = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}

    def has(self, name):
        return any(p + name in self.tensors for p in PREFIXES)

    def __call__(self, name):
        for p in PREFIXES:
            if p + name in self.tensors:
                return torch.from_numpy(self.tensors[p + name].copy()).to(torch.float64)
        raise KeyError(f"{self.model_path}: no initializer named {name!r} (with or without a model prefix)")

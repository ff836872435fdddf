"""Reads a tensor folder written by the benchmark (Peer/TensorFolder.cs): manifest.json lists every tensor's name,
file, dtype and shape; each file holds the raw little-endian values in row-major order."""
import json
import os

import numpy as np
import torch

_DTYPES = {"float32": "<f4", "int64": "<i8"}


def read(folder):
    """{name: tensor}, in the manifest's order."""
    with open(os.path.join(folder, "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    tensors = {}
    for entry in manifest["tensors"]:
        values = np.fromfile(os.path.join(folder, entry["file"]), dtype=_DTYPES[entry["dtype"]])
        tensors[entry["name"]] = torch.from_numpy(values.reshape(entry["shape"]).copy())
    return tensors

"""Folds every Conv -> BatchNormalization pair of an ONNX model into one Conv with a bias, as torch.onnx.export does
in eval mode. Used to measure how a folded network fine-tunes (docs/decisions/2026-12-07-folded-batchnorm.md) on the
one pretrained network available offline, CNTK's ResNet18.

Usage: python3 fold_batchnorm.py IN.onnx OUT.onnx   (needs Debian's python3-onnx)
"""
import sys

import numpy as np
import onnx
from onnx import numpy_helper


def main(source, target):
    model = onnx.load(source)
    graph = model.graph
    weights = {t.name: t for t in graph.initializer}
    consumers = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    removed = []
    for conv in [n for n in graph.node if n.op_type == "Conv"]:
        after = consumers.get(conv.output[0], [])
        if len(after) != 1 or after[0].op_type != "BatchNormalization":
            continue
        norm = after[0]
        eps = next((a.f for a in norm.attribute if a.name == "epsilon"), 1e-5)
        w = numpy_helper.to_array(weights[conv.input[1]]).astype(np.float64)
        b = numpy_helper.to_array(weights[conv.input[2]]).astype(np.float64) if len(conv.input) > 2 else np.zeros(w.shape[0])
        gamma, beta, mean, var = (numpy_helper.to_array(weights[n]).astype(np.float64) for n in norm.input[1:5])
        scale = gamma / np.sqrt(var + eps)
        folded_w = numpy_helper.from_array((w * scale[:, None, None, None]).astype(np.float32), conv.input[1] + "_folded")
        folded_b = numpy_helper.from_array(((b - mean) * scale + beta).astype(np.float32), conv.input[1] + "_folded_bias")
        graph.initializer.extend([folded_w, folded_b])
        del conv.input[1:]
        conv.input.extend([folded_w.name, folded_b.name])
        for node in graph.node:
            for i, name in enumerate(node.input):
                if name == norm.output[0]:
                    node.input[i] = conv.output[0]
        for output in graph.output:
            if output.name == norm.output[0]:
                output.name = conv.output[0]
        removed.append(norm)
    for norm in removed:
        graph.node.remove(norm)
    used = {name for node in graph.node for name in node.input}
    kept = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    onnx.save(model, target)
    print(f"folded {len(removed)} BatchNormalization nodes into their convolutions: {target}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

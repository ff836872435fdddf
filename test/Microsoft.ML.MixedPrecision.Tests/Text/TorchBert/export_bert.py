# A BERT written as Hugging Face transformers' modeling_bert.py writes BertModel (eager attention: view/permute, matmul,
# / sqrt(head width), + (1 - mask) * finfo.min, softmax; erf GELU; post-LN), random weights, another shape than MiniLM's
# (3 layers, width 64, 4 heads, FFN 96, 120 tokens, 32 positions), exported by torch.onnx as optimum does, for
# TorchBertExportTests. Needs Debian's python3-torch (build/prereqs.sh --torchvision installs it).
# Usage: /usr/bin/python3 export_bert.py OUT_DIR OPSET   (writes OUT_DIR/model.onnx and OUT_DIR/vocab.txt)
import math, sys, os, torch
from torch import nn

class Cfg:
    vocab = 120; width = 64; heads = 4; layers = 3; ffn = 96; positions = 32; types = 2; eps = 1e-12

class Embeddings(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.word_embeddings = nn.Embedding(c.vocab, c.width)
        s.position_embeddings = nn.Embedding(c.positions, c.width)
        s.token_type_embeddings = nn.Embedding(c.types, c.width)
        s.LayerNorm = nn.LayerNorm(c.width, eps=c.eps)
        s.register_buffer("position_ids", torch.arange(c.positions).expand((1, -1)))
    def forward(s, input_ids, token_type_ids):
        L = input_ids.size(1)
        pos = s.position_ids[:, 0:L]
        e = s.word_embeddings(input_ids) + s.token_type_embeddings(token_type_ids)
        e = e + s.position_embeddings(pos)
        return s.LayerNorm(e)

class SelfAttention(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.h = c.heads; s.d = c.width // c.heads
        s.query = nn.Linear(c.width, c.width); s.key = nn.Linear(c.width, c.width); s.value = nn.Linear(c.width, c.width)
    def split(s, x):
        return x.view(x.size()[:-1] + (s.h, s.d)).permute(0, 2, 1, 3)
    def forward(s, x, mask):
        q = s.split(s.query(x)); k = s.split(s.key(x)); v = s.split(s.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(s.d) + mask
        p = nn.functional.softmax(scores, dim=-1)
        c = torch.matmul(p, v).permute(0, 2, 1, 3).contiguous()
        return c.view(c.size()[:-2] + (s.h * s.d,))

class Layer(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.attention = SelfAttention(c); s.dense = nn.Linear(c.width, c.width); s.ln1 = nn.LayerNorm(c.width, eps=c.eps)
        s.intermediate = nn.Linear(c.width, c.ffn); s.output = nn.Linear(c.ffn, c.width); s.ln2 = nn.LayerNorm(c.width, eps=c.eps)
    def forward(s, x, mask):
        h = s.ln1(s.dense(s.attention(x, mask)) + x)
        return s.ln2(s.output(nn.functional.gelu(s.intermediate(h))) + h)

class Bert(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.embeddings = Embeddings(c); s.layer = nn.ModuleList([Layer(c) for _ in range(c.layers)])
    def forward(s, input_ids, attention_mask, token_type_ids):
        mask = (1.0 - attention_mask[:, None, None, :].to(torch.float32)) * torch.finfo(torch.float32).min
        x = s.embeddings(input_ids, token_type_ids)
        for l in s.layer:
            x = l(x, mask)
        return x

out, opset = sys.argv[1], int(sys.argv[2])
os.makedirs(out, exist_ok=True)
torch.manual_seed(0)
c = Cfg(); m = Bert(c).eval()
with torch.no_grad():
    for p in m.parameters():
        p.add_(torch.randn_like(p) * 0.05)
ids = torch.tensor([[2, 10, 11, 3]]); mask = torch.ones_like(ids); types = torch.zeros_like(ids)
axes = {n: {0: "batch", 1: "sequence"} for n in ["input_ids", "attention_mask", "token_type_ids", "last_hidden_state"]}
torch.onnx.export(m, (ids, mask, types), os.path.join(out, "model.onnx"), input_names=["input_ids", "attention_mask", "token_type_ids"],
                  output_names=["last_hidden_state"], dynamic_axes=axes, opset_version=opset, do_constant_folding=True)
vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [chr(ord('a') + i) for i in range(26)] + ["##" + chr(ord('a') + i) for i in range(26)]
words = ["the", "goal", "rocket", "bake", "orbit", "team", "dough", ".", "!", ","]
vocab += words + [f"w{i}" for i in range(c.vocab - len(vocab) - len(words))]
open(os.path.join(out, "vocab.txt"), "w").write("\n".join(vocab[:c.vocab]) + "\n")
print("ok", out, opset)

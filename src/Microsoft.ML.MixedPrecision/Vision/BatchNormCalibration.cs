using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.MixedPrecision.Export;
using Microsoft.ML.MixedPrecision.Kernels;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Vision
{
    /// <summary>
    /// Gives BatchNorm layers running statistics measured on data while keeping what they compute in inference mode.
    /// For a network whose BatchNorms were folded into its convolutions by the export (torch.onnx.export in eval mode):
    /// the import re-creates each BatchNorm as an exact identity plus the conv bias, with made-up statistics (mean 0,
    /// variance 1). Inference mode is then exact, but a training-mode BatchNorm normalizes by the batch's own statistics
    /// and would scramble the pretrained features at the first step. Measured on the training images, the statistics
    /// become those a training batch has, and the scale and shift are rewritten so that inference mode computes exactly
    /// what it did (y = a·x + c per channel, whatever the statistics): the fine-tune then starts from the pretrained
    /// function in both modes.
    /// </summary>
    internal sealed class BatchNormCalibration : IDisposable
    {
        [ThreadStatic]
        private static BatchNormCalibration? _active;

        private readonly Dictionary<BatchNorm2d, Moments> _moments;
        private readonly BatchNormCalibration? _previous;

        /// <summary>Starts recording the inputs of <paramref name="norms"/> in forwards on this thread until disposed.</summary>
        public BatchNormCalibration(IEnumerable<BatchNorm2d> norms)
        {
            _moments = norms.ToDictionary(n => n, _ => new Moments(), ReferenceEqualityComparer.Instance as IEqualityComparer<BatchNorm2d>);
            _previous = _active;
            _active = this;
        }

        /// <summary>What the networks call for every BatchNorm: its forward, recorded while a calibration is active.</summary>
        public static Tensor Run(BatchNorm2d norm, Tensor input)
        {
            if (_active is { } active && active._moments.TryGetValue(norm, out var moments))
                moments.Add(input);
            return norm.Run(input);
        }

        /// <summary>Sets each recorded BatchNorm's statistics to the recorded ones, its scale and shift so its inference output stays the same.</summary>
        public void Apply()
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            foreach (var (norm, moments) in _moments)
            {
                if (moments.Count < 2)
                    throw new InvalidOperationException("A BatchNorm to calibrate saw no input: run the network's forward on the data first.");
                double eps = norm.eps;
                double[] gamma = Doubles(norm.weight!), beta = Doubles(norm.bias!), mean = Doubles(norm.running_mean!), variance = Doubles(norm.running_var!);
                int c = gamma.Length;
                var (newGamma, newBeta, newMean, newVariance) = (new float[c], new float[c], new float[c], new float[c]);
                for (int i = 0; i < c; i++)
                {
                    double a = gamma[i] / Math.Sqrt(variance[i] + eps), shift = beta[i] - a * mean[i];
                    double m = moments.Sum[i] / moments.Count;
                    double v = Math.Max(0, (moments.SumOfSquares[i] / moments.Count - m * m) * moments.Count / (moments.Count - 1));
                    (newMean[i], newVariance[i]) = ((float)m, (float)v);
                    newGamma[i] = (float)(a * Math.Sqrt(v + eps));
                    newBeta[i] = (float)(shift + a * m);
                }
                norm.weight!.copy_(tensor(newGamma));
                norm.bias!.copy_(tensor(newBeta));
                norm.running_mean!.copy_(tensor(newMean));
                norm.running_var!.copy_(tensor(newVariance));
            }
        }

        public void Dispose() => _active = _previous;

        private static double[] Doubles(Tensor t) => OnnxLayerExport.ToFloatArray(t).Select(v => (double)v).ToArray();

        /// <summary>Per-channel sums of a BatchNorm's inputs [N, C, H, W], in float64.</summary>
        private sealed class Moments
        {
            public double[] Sum = Array.Empty<double>();
            public double[] SumOfSquares = Array.Empty<double>();
            public long Count;

            public void Add(Tensor input)
            {
                using var scope = NewDisposeScope();
                using var noGrad = no_grad();
                Tensor x = input.detach().to(ScalarType.Float64);
                long[] dims = { 0, 2, 3 };
                double[] sum = x.sum(dims).cpu().data<double>().ToArray();
                double[] squares = x.square().sum(dims).cpu().data<double>().ToArray();
                if (Sum.Length == 0)
                    (Sum, SumOfSquares) = (new double[sum.Length], new double[sum.Length]);
                for (int i = 0; i < sum.Length; i++)
                {
                    Sum[i] += sum[i];
                    SumOfSquares[i] += squares[i];
                }
                Count += input.shape[0] * input.shape[2] * input.shape[3];
            }
        }
    }
}

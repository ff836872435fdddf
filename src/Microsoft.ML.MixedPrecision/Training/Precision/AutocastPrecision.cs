using System;
using Microsoft.ML.MixedPrecision.Amp;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Training.Precision
{
    /// <summary>
    /// Mixed precision: forward + loss inside an <see cref="Autocast"/> region (bf16 or fp16), float32 master weights,
    /// and a <see cref="GradScaler"/> around backward/step (a pass-through when loss scaling is off, as for bf16).
    /// </summary>
    internal sealed class AutocastPrecision : PrecisionPlugin
    {
        private readonly DeviceType _device;
        private readonly ScalarType _dtype;
        private readonly GradScaler _scaler;

        public AutocastPrecision(DeviceType device, TrainingPrecision precision, bool lossScaling, MixedPrecisionOptions options)
        {
            if (precision != TrainingPrecision.BFloat16 && precision != TrainingPrecision.Float16)
                throw new ArgumentOutOfRangeException(nameof(precision), precision, "Autocast precision is BFloat16 or Float16.");
            _device = device;
            _dtype = precision == TrainingPrecision.BFloat16 ? ScalarType.BFloat16 : ScalarType.Float16;
            Precision = precision;
            _scaler = new GradScaler(options.InitialLossScale, options.GrowthFactor, options.BackoffFactor, options.GrowthInterval, lossScaling);
        }

        public override TrainingPrecision Precision { get; }

        public override IDisposable ForwardContext() => new Autocast(_device, _dtype);

        public override void Backward(Tensor loss)
        {
            using var scaled = _scaler.IsEnabled ? _scaler.Scale(loss) : null;
            (scaled ?? loss).backward();
        }

        public override void UnscaleGradients(optim.Optimizer optimizer)
        {
            _scaler.Unscale(optimizer);
        }

        public override bool OptimizerStep(optim.Optimizer optimizer) => _scaler.Step(optimizer);

        public override void Update()
        {
            _scaler.Update();
        }

        public override GradScalerState GetState() => _scaler.GetState();

        public override void LoadState(GradScalerState state) => _scaler.LoadState(state);

        public override double LossScale => _scaler.GetScale();
        public override long SkippedSteps => _scaler.SkippedSteps;

        public override void Dispose() => _scaler.Dispose();
    }
}

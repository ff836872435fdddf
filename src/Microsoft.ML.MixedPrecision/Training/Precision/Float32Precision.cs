using System;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Training.Precision
{
    /// <summary>Plain float32 training: no autocast, no loss scaling.</summary>
    internal sealed class Float32Precision : PrecisionPlugin
    {
        private sealed class NoContext : IDisposable
        {
            public static readonly NoContext Instance = new NoContext();
            public void Dispose() { }
        }

        public override TrainingPrecision Precision => TrainingPrecision.Float32;
        public override IDisposable ForwardContext() => NoContext.Instance;
        public override void Backward(Tensor loss) => loss.backward();
        public override void UnscaleGradients(optim.Optimizer optimizer) { }
        public override bool OptimizerStep(optim.Optimizer optimizer) { optimizer.step(); return true; }
        public override void Update() { }
        public override double LossScale => 1.0;
        public override long SkippedSteps => 0;
    }
}

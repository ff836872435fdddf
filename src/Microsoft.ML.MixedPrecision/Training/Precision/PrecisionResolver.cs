using System;
using Microsoft.ML.MixedPrecision.Amp;
using Microsoft.ML.MixedPrecision.Training;
using TorchSharp;

namespace Microsoft.ML.MixedPrecision.Training.Precision
{
    /// <summary>Turns the user's <see cref="MixedPrecisionOptions"/> and the device into a concrete precision plugin.</summary>
    internal static class PrecisionResolver
    {
        /// <summary>No WithMixedPrecision(): the trainer trains in float32.</summary>
        public static PrecisionPlugin Float32() => new Float32Precision();

        public static PrecisionPlugin Resolve(MixedPrecisionOptions options, DeviceType device, TrainingLog log)
            => Resolve(options, device, log, AmpCapabilities.CpuHasFastBFloat16);

        /// <summary>As above, with the CPU's bf16 capability given (tests take both branches on any CPU).</summary>
        internal static PrecisionPlugin Resolve(MixedPrecisionOptions options, DeviceType device, TrainingLog log, bool cpuHasFastBFloat16)
        {
            options ??= new MixedPrecisionOptions();
            options.Validate();
            TrainingPrecision precision = options.Precision;
            if (precision == TrainingPrecision.Auto)
            {
                if (device == DeviceType.CUDA)
                {
                    precision = TrainingPrecision.Float16;
                }
                else if (cpuHasFastBFloat16)
                {
                    precision = TrainingPrecision.BFloat16;
                }
                else
                {
                    precision = TrainingPrecision.Float32;
                    log.Warning("Mixed precision (Auto): this CPU has no native bfloat16 instructions (AVX512-BF16 or AMX), where " +
                                "bf16 autocast is slower than float32; training in Float32. Set MixedPrecisionOptions.Precision = " +
                                "BFloat16 to force it.");
                }
            }
            else if (precision == TrainingPrecision.Float16 && device == DeviceType.CPU)
            {
                log.Warning("Mixed precision: Float16 on CPU has no fast kernels (much slower than float32); BFloat16 is the CPU choice.");
            }

            if (precision == TrainingPrecision.Float32)
                return new Float32Precision();

            bool lossScaling = options.LossScaling ?? precision == TrainingPrecision.Float16;
            if (precision == TrainingPrecision.Float16 && !lossScaling)
                log.Warning("Mixed precision: Float16 without loss scaling lets small gradients underflow to zero.");
            return new AutocastPrecision(device, precision, lossScaling, options);
        }
    }
}

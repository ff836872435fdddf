using System;
using Microsoft.ML.MixedPrecision.Amp;
using TorchSharp;

namespace Microsoft.ML.MixedPrecision.Training
{
    /// <summary>Picks the device from ML.NET's stock switches, <c>MLContext.GpuDeviceId</c> and <c>FallbackToCpu</c>.</summary>
    internal static class TrainingDevice
    {
        public static torch.Device Resolve(int? gpuDeviceId, bool fallbackToCpu, TrainingLog log)
        {
            TorchRuntime.EnsureAvailable();
            int? gpu = gpuDeviceId;
            if (gpu is null)
                return torch.CPU;
            if (AmpCapabilities.IsCudaAvailable && gpu.Value < torch.cuda.device_count())
                return new torch.Device(DeviceType.CUDA, gpu.Value);
            string reason = AmpCapabilities.IsCudaAvailable
                ? $"GPU {gpu.Value} does not exist ({torch.cuda.device_count()} CUDA devices)"
                : "CUDA is not available to TorchSharp (this build references TorchSharp-cpu)";
            if (fallbackToCpu)
            {
                log.Warning($"MLContext.GpuDeviceId is {gpu.Value} but {reason}; training on the CPU (FallbackToCpu is true).");
                return torch.CPU;
            }
            throw new InvalidOperationException(
                $"MLContext.GpuDeviceId is {gpu.Value} but {reason}. Set MLContext.FallbackToCpu = true to train on the CPU instead.");
        }
    }
}

using System;
using System.Diagnostics;
using System.Threading;
using Microsoft.ML.MixedPrecision.Native;
using TorchSharp;
using ScalarType = TorchSharp.torch.ScalarType;

namespace Microsoft.ML.MixedPrecision.Amp
{
    /// <summary>
    /// An autocast region, the .NET counterpart of <c>torch.autocast</c>: inside it, libtorch's dispatcher runs
    /// matmul/linear/conv in a lower precision (bfloat16 or float16) and precision-sensitive ops (losses, ...) in float32,
    /// by PyTorch's own per-op rules. Wrap the forward pass and the loss, not the backward pass.
    /// <code>
    /// using (new Autocast(DeviceType.CPU, ScalarType.BFloat16))
    /// {
    ///     using var logits = model.forward(x);              // bfloat16
    ///     using var loss = functional.cross_entropy(logits, y); // float32
    /// }
    /// </code>
    /// Autocast state is thread-local: a region must be disposed on the thread that opened it (never across an await).
    /// Regions nest; <c>enabled: false</c> opens a full-precision region inside an autocast one.
    /// </summary>
    public sealed class Autocast : IDisposable
    {
        private readonly bool _previousEnabled;
        private readonly ScalarType _previousDtype;
        private readonly bool _previousCacheEnabled;
        private readonly int _threadId;
        private bool _disposed;

        /// <summary>Opens a region on <paramref name="device"/>.</summary>
        /// <param name="device">CPU or CUDA.</param>
        /// <param name="dtype">BFloat16 or Float16; null takes the device default (CPU: BFloat16, CUDA: Float16).</param>
        /// <param name="enabled">False opens a region that runs everything in the inputs' own precision.</param>
        /// <param name="cacheEnabled">Cache the low-precision copies of float32 weights for the region's lifetime.</param>
        public Autocast(DeviceType device, ScalarType? dtype = null, bool enabled = true, bool cacheEnabled = true)
        {
            if (device != DeviceType.CPU && device != DeviceType.CUDA)
                throw new ArgumentException($"Autocast supports the CPU and CUDA devices, not {device}.", nameof(device));
            ScalarType fastDtype = dtype ?? DefaultDtype(device);
            if (fastDtype != ScalarType.BFloat16 && fastDtype != ScalarType.Float16)
                throw new ArgumentException(
                    $"Autocast lowers precision to BFloat16 or Float16, not {fastDtype}. Use enabled: false for a float32 region.", nameof(dtype));

            bool effective = enabled;
            if (effective && device == DeviceType.CUDA && !AmpCapabilities.IsCudaAvailable)
            {
                // torch.autocast warns and disables in this case; we do the same rather than fail a CPU-only machine.
                Trace.TraceWarning("Autocast: CUDA was requested but is not available; the region is disabled.");
                effective = false;
            }

            Device = device;
            Dtype = fastDtype;
            IsActive = effective;
            _threadId = Environment.CurrentManagedThreadId;

            // Enter exactly like torch.autocast.__enter__: save, set enabled and dtype, nest, set the cache flag.
            _previousCacheEnabled = LibTorchAmpNative.IsCacheEnabled();
            _previousEnabled = LibTorchAmpNative.IsAutocastEnabled(device);
            _previousDtype = LibTorchAmpNative.GetAutocastDtype(device);
            LibTorchAmpNative.SetAutocastEnabled(device, effective);
            LibTorchAmpNative.SetAutocastDtype(device, fastDtype);
            LibTorchAmpNative.IncrementNesting();
            LibTorchAmpNative.SetCacheEnabled(cacheEnabled);
        }

        /// <summary>The region's device.</summary>
        public DeviceType Device { get; }

        /// <summary>The lower-precision type matmul/conv run in while the region is active.</summary>
        public ScalarType Dtype { get; }

        /// <summary>False for an <c>enabled: false</c> region, or a CUDA region on a machine without CUDA.</summary>
        public bool IsActive { get; }

        /// <summary>Whether autocast is on for <paramref name="device"/> on the calling thread.</summary>
        public static bool IsEnabled(DeviceType device) => LibTorchAmpNative.IsAutocastEnabled(device);

        /// <summary>The dtype autocast lowers to on <paramref name="device"/> on the calling thread.</summary>
        public static ScalarType GetDtype(DeviceType device) => LibTorchAmpNative.GetAutocastDtype(device);

        /// <summary>PyTorch's defaults: bfloat16 on CPU, float16 on CUDA.</summary>
        public static ScalarType DefaultDtype(DeviceType device) => device == DeviceType.CUDA ? ScalarType.Float16 : ScalarType.BFloat16;

        /// <summary>Leaves the region: un-nest, clear the weight-cast cache at depth 0, restore the previous state.</summary>
        public void Dispose()
        {
            if (_disposed)
                return;
            if (Environment.CurrentManagedThreadId != _threadId)
                throw new InvalidOperationException(
                    "An Autocast region was disposed on a different thread than the one that opened it. Autocast state is " +
                    "thread-local: keep the region synchronous (do not await inside it).");
            _disposed = true;
            if (LibTorchAmpNative.DecrementNesting() == 0)
                LibTorchAmpNative.ClearCache();
            LibTorchAmpNative.SetAutocastEnabled(Device, _previousEnabled);
            LibTorchAmpNative.SetAutocastDtype(Device, _previousDtype);
            LibTorchAmpNative.SetCacheEnabled(_previousCacheEnabled);
        }
    }
}

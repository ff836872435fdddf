using System;
using System.Runtime.InteropServices;
using TorchSharp;
using ScalarType = TorchSharp.torch.ScalarType;

namespace Microsoft.ML.MixedPrecision.Amp
{
    /// <summary>
    /// Every native entry point this library calls, in one place. TorchSharp 0.107 binds neither autocast nor the AMP
    /// kernels, so we call libtorch_cpu directly through its C++ (Itanium ABI) mangled names. The ABI facts relied on:
    /// <list type="bullet">
    /// <item><c>c10::DeviceType</c> and <c>c10::ScalarType</c> are int8 enums; TorchSharp's enums carry the same values
    /// (CPU=0, CUDA=1; Half=5, Float=6, BFloat16=15).</item>
    /// <item>A TorchSharp tensor handle is an <c>at::Tensor*</c>, so it can be passed where C++ takes <c>at::Tensor&amp;</c>.</item>
    /// <item><c>at::Tensor</c> is one pointer (its TensorImpl); <c>c10::ArrayRef&lt;at::Tensor&gt;</c> is {data, length}
    /// passed by value in two registers.</item>
    /// </list>
    /// libtorch reports errors as C++ exceptions, which must never cross this boundary: callers validate arguments first.
    /// </summary>
    internal static unsafe class LibTorchAmpNative
    {
        // at::autocast (aten/src/ATen/autocast_mode.h): thread-local autocast state, device-typed API.
        private const string IsAutocastEnabledName = "_ZN2at8autocast19is_autocast_enabledEN3c1010DeviceTypeE";
        private const string SetAutocastEnabledName = "_ZN2at8autocast20set_autocast_enabledEN3c1010DeviceTypeEb";
        private const string GetAutocastDtypeName = "_ZN2at8autocast18get_autocast_dtypeEN3c1010DeviceTypeE";
        private const string SetAutocastDtypeName = "_ZN2at8autocast18set_autocast_dtypeEN3c1010DeviceTypeENS1_10ScalarTypeE";
        private const string IncrementNestingName = "_ZN2at8autocast17increment_nestingEv";
        private const string DecrementNestingName = "_ZN2at8autocast17decrement_nestingEv";
        private const string ClearCacheName = "_ZN2at8autocast11clear_cacheEv";
        private const string IsCacheEnabledName = "_ZN2at8autocast25is_autocast_cache_enabledEv";
        private const string SetCacheEnabledName = "_ZN2at8autocast26set_autocast_cache_enabledEb";

        // at::_ops::*::call: the dispatcher entry points of the AMP kernels (CPU and CUDA implementations behind them).
        private const string NonFiniteCheckAndUnscaleName =
            "_ZN2at4_ops42_amp_foreach_non_finite_check_and_unscale_4callEN3c108ArrayRefINS_6TensorEEERS4_RKS4_";
        private const string UpdateScaleName = "_ZN2at4_ops18_amp_update_scale_4callERNS_6TensorES3_RKS2_ddl";

        [StructLayout(LayoutKind.Sequential)]
        internal struct TensorArrayRef
        {
            public IntPtr Data;
            public UIntPtr Length;
        }

        private static readonly object Gate = new object();
        // volatile: the double-checked load below publishes the function pointers before the flag.
        private static volatile bool _loaded;

        // Gradient lists up to this length are passed from the stack; longer ones from the heap (no stack overflow).
        private const int MaxStackGradients = 256;

        private static delegate* unmanaged<sbyte, byte> _isAutocastEnabled;
        private static delegate* unmanaged<sbyte, byte, void> _setAutocastEnabled;
        private static delegate* unmanaged<sbyte, sbyte> _getAutocastDtype;
        private static delegate* unmanaged<sbyte, sbyte, void> _setAutocastDtype;
        private static delegate* unmanaged<int> _incrementNesting;
        private static delegate* unmanaged<int> _decrementNesting;
        private static delegate* unmanaged<void> _clearCache;
        private static delegate* unmanaged<byte> _isCacheEnabled;
        private static delegate* unmanaged<byte, void> _setCacheEnabled;
        private static delegate* unmanaged<TensorArrayRef, IntPtr, IntPtr, void> _nonFiniteCheckAndUnscale;
        private static delegate* unmanaged<IntPtr, IntPtr, IntPtr, double, double, long, IntPtr> _updateScale;

        /// <summary>True when libtorch's fused AMP kernels were found (else the grad scaler uses plain tensor ops).</summary>
        internal static bool HasFusedAmpKernels
        {
            get { EnsureLoaded(); return _nonFiniteCheckAndUnscale != null && _updateScale != null; }
        }

        internal static bool IsAutocastEnabled(DeviceType device) { EnsureLoaded(); return _isAutocastEnabled((sbyte)device) != 0; }
        internal static void SetAutocastEnabled(DeviceType device, bool enabled) { EnsureLoaded(); _setAutocastEnabled((sbyte)device, enabled ? (byte)1 : (byte)0); }
        internal static ScalarType GetAutocastDtype(DeviceType device) { EnsureLoaded(); return (ScalarType)_getAutocastDtype((sbyte)device); }
        internal static void SetAutocastDtype(DeviceType device, ScalarType dtype)
        {
            if (dtype != ScalarType.BFloat16 && dtype != ScalarType.Float16)
                throw new ArgumentException($"Autocast runs in bfloat16 or float16, not {dtype}.", nameof(dtype));
            EnsureLoaded();
            _setAutocastDtype((sbyte)device, (sbyte)dtype);
        }
        internal static int IncrementNesting() { EnsureLoaded(); return _incrementNesting(); }
        internal static int DecrementNesting() { EnsureLoaded(); return _decrementNesting(); }
        internal static void ClearCache() { EnsureLoaded(); _clearCache(); }
        internal static bool IsCacheEnabled() { EnsureLoaded(); return _isCacheEnabled() != 0; }
        internal static void SetCacheEnabled(bool enabled) { EnsureLoaded(); _setCacheEnabled(enabled ? (byte)1 : (byte)0); }

        /// <summary>
        /// <c>at::_amp_foreach_non_finite_check_and_unscale_(grads, found_inf, inv_scale)</c>: multiplies every gradient by
        /// inv_scale in place and sets found_inf to 1 when any of them holds inf or NaN. Same device and dtype for all grads.
        /// </summary>
        internal static void NonFiniteCheckAndUnscale(torch.Tensor[] grads, torch.Tensor foundInf, torch.Tensor invScale)
        {
            // libtorch TORCH_CHECKs these; a C++ exception unwinding through this P/Invoke frame would abort the process.
            if (grads is null || grads.Length == 0)
                throw new ArgumentException("At least one gradient is needed.", nameof(grads));
            CheckScalar(foundInf, nameof(foundInf), ScalarType.Float32);
            CheckScalar(invScale, nameof(invScale), ScalarType.Float32);
            var device = foundInf.device;
            if (!SameDevice(invScale, foundInf))
                throw new ArgumentException($"invScale is on {invScale.device}, foundInf on {device}: they must share a device.", nameof(invScale));
            var dtype = CheckDefined(grads[0], "grads[0]").dtype;
            for (int i = 0; i < grads.Length; i++)
            {
                var grad = CheckDefined(grads[i], $"grads[{i}]");
                if (!SameDevice(grad, foundInf) || grad.dtype != dtype || !grad.is_floating_point())
                    throw new ArgumentException($"grads[{i}] is {grad.dtype} on {grad.device}; every gradient must be the same floating dtype ({dtype}) " +
                                                $"on foundInf's device ({device}).", nameof(grads));
            }
            EnsureLoaded();
            // at::Tensor is one TensorImpl pointer: copy those pointers (no ownership taken; the tensors stay alive) into
            // a contiguous array that the ArrayRef can point at.
            IntPtr[] heap = grads.Length > MaxStackGradients ? new IntPtr[grads.Length] : null;
            Span<IntPtr> impls = heap ?? stackalloc IntPtr[grads.Length];
            for (int i = 0; i < grads.Length; i++)
                impls[i] = *(IntPtr*)grads[i].Handle;
            fixed (IntPtr* data = impls)
            {
                var array = new TensorArrayRef { Data = (IntPtr)data, Length = (UIntPtr)(uint)grads.Length };
                _nonFiniteCheckAndUnscale(array, foundInf.Handle, invScale.Handle);
            }
            GC.KeepAlive(grads);
            GC.KeepAlive(foundInf);
            GC.KeepAlive(invScale);
        }

        /// <summary><c>at::_amp_update_scale_(scale, growth_tracker, found_inf, growth, backoff, interval)</c>, in place.</summary>
        internal static void UpdateScale(torch.Tensor scale, torch.Tensor growthTracker, torch.Tensor foundInf,
            double growthFactor, double backoffFactor, long growthInterval)
        {
            CheckScalar(scale, nameof(scale), ScalarType.Float32);
            CheckScalar(growthTracker, nameof(growthTracker), ScalarType.Int32);
            CheckScalar(foundInf, nameof(foundInf), ScalarType.Float32);
            if (!SameDevice(growthTracker, scale) || !SameDevice(foundInf, scale))
                throw new ArgumentException($"scale ({scale.device}), growthTracker ({growthTracker.device}) and foundInf ({foundInf.device}) must share a device.");
            if (growthInterval <= 0)
                throw new ArgumentOutOfRangeException(nameof(growthInterval), growthInterval, "The growth interval must be positive.");
            EnsureLoaded();
            _updateScale(scale.Handle, growthTracker.Handle, foundInf.Handle, growthFactor, backoffFactor, growthInterval);
            GC.KeepAlive(scale);
            GC.KeepAlive(growthTracker);
            GC.KeepAlive(foundInf);
        }

        private static bool SameDevice(torch.Tensor a, torch.Tensor b) => a.device_type == b.device_type && a.device_index == b.device_index;

        /// <summary>A live (not disposed) tensor.</summary>
        private static torch.Tensor CheckDefined(torch.Tensor tensor, string name)
        {
            if (tensor is null || tensor.IsInvalid)
                throw new ArgumentException($"{name} is null or disposed.", name);
            return tensor;
        }

        /// <summary>A live one-element tensor of <paramref name="dtype"/>, as libtorch's AMP kernels require.</summary>
        private static void CheckScalar(torch.Tensor tensor, string name, ScalarType dtype)
        {
            CheckDefined(tensor, name);
            if (tensor.dtype != dtype || tensor.numel() != 1)
                throw new ArgumentException($"{name} must be a one-element {dtype} tensor, but it is {tensor.dtype} with {tensor.numel()} elements.", name);
        }

        private static void EnsureLoaded()
        {
            if (_loaded)
                return;
            lock (Gate)
            {
                if (_loaded)
                    return;
                TorchRuntime.EnsureAvailable();
                LibTorchAbi.EnsureTested(); // the C++ ABI relied on below is libtorch 2.10's
                IntPtr lib = LoadTorchCpu();
                _isAutocastEnabled = (delegate* unmanaged<sbyte, byte>)Require(lib, IsAutocastEnabledName);
                _setAutocastEnabled = (delegate* unmanaged<sbyte, byte, void>)Require(lib, SetAutocastEnabledName);
                _getAutocastDtype = (delegate* unmanaged<sbyte, sbyte>)Require(lib, GetAutocastDtypeName);
                _setAutocastDtype = (delegate* unmanaged<sbyte, sbyte, void>)Require(lib, SetAutocastDtypeName);
                _incrementNesting = (delegate* unmanaged<int>)Require(lib, IncrementNestingName);
                _decrementNesting = (delegate* unmanaged<int>)Require(lib, DecrementNestingName);
                _clearCache = (delegate* unmanaged<void>)Require(lib, ClearCacheName);
                _isCacheEnabled = (delegate* unmanaged<byte>)Require(lib, IsCacheEnabledName);
                _setCacheEnabled = (delegate* unmanaged<byte, void>)Require(lib, SetCacheEnabledName);
                _nonFiniteCheckAndUnscale = NativeLibrary.TryGetExport(lib, NonFiniteCheckAndUnscaleName, out IntPtr a)
                    ? (delegate* unmanaged<TensorArrayRef, IntPtr, IntPtr, void>)a : null;
                _updateScale = NativeLibrary.TryGetExport(lib, UpdateScaleName, out IntPtr b)
                    ? (delegate* unmanaged<IntPtr, IntPtr, IntPtr, double, double, long, IntPtr>)b : null;
                _loaded = true;
            }
        }

        private static IntPtr LoadTorchCpu()
        {
            if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS())
                throw new PlatformNotSupportedException(
                    "Mixed precision needs libtorch's autocast entry points, which this library binds by their Itanium C++ ABI " +
                    "names (Linux and macOS). Windows (MSVC ABI) is not supported yet; train in Float32 there.");
            string file = OperatingSystem.IsMacOS() ? "libtorch_cpu.dylib" : "libtorch_cpu.so";
            // TorchSharp has loaded libtorch_cpu by now (TorchRuntime.EnsureAvailable touched it): dlopen by name returns
            // that same copy. The assembly-directory search covers apps that load it from their own folder.
            if (NativeLibrary.TryLoad(file, out IntPtr handle))
                return handle;
            if (NativeLibrary.TryLoad(file, typeof(torch).Assembly, DllImportSearchPath.AssemblyDirectory | DllImportSearchPath.SafeDirectories, out handle))
                return handle;
            string rid = OperatingSystem.IsMacOS() ? "osx-arm64" : "linux-x64";
            string candidate = System.IO.Path.Combine(AppContext.BaseDirectory, "runtimes", rid, "native", file);
            if (NativeLibrary.TryLoad(candidate, out handle))
                return handle;
            throw new DllNotFoundException(
                $"Could not load {file}, which TorchSharp-cpu (libtorch-cpu) ships. Make sure the app references TorchSharp-cpu 0.107.0.");
        }

        private static IntPtr Require(IntPtr lib, string name)
        {
            if (NativeLibrary.TryGetExport(lib, name, out IntPtr address))
                return address;
            throw new EntryPointNotFoundException(
                $"libtorch does not export '{name}'. Microsoft.ML.MixedPrecision is built against libtorch 2.10 (TorchSharp 0.107); " +
                "a different libtorch version may have changed its autocast API.");
        }
    }
}

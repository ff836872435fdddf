using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using Microsoft.ML.MixedPrecision.Amp;
using TorchSharp;
using ScalarType = TorchSharp.torch.ScalarType;

namespace Microsoft.ML.MixedPrecision.Native
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

        // at::_ops::_fused_adamw_::call: libtorch's fused AdamW (one pass over each parameter's param, grad and moments).
        private const string FusedAdamWName =
            "_ZN2at4_ops13_fused_adamw_4callEN3c108ArrayRefINS_6TensorEEES5_S5_S5_S5_S5_dddddbbRKSt8optionalIS4_ES9_";

        [StructLayout(LayoutKind.Sequential)]
        internal struct TensorArrayRef
        {
            public IntPtr Data;
            public UIntPtr Length;
        }

        /// <summary><c>std::optional&lt;at::Tensor&gt;</c> as libstdc++ lays it out: the value, then the engaged flag.</summary>
        [StructLayout(LayoutKind.Sequential)]
        private struct OptionalTensor
        {
            public IntPtr Impl;
            public byte Engaged;
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
        private static delegate* unmanaged<TensorArrayRef, TensorArrayRef, TensorArrayRef, TensorArrayRef, TensorArrayRef, TensorArrayRef,
            double, double, double, double, double, byte, byte, OptionalTensor*, OptionalTensor*, void> _fusedAdamW;

        /// <summary>
        /// The address of <paramref name="tensor"/>'s first element: TorchSharp's own C export <c>THSTensor_data</c>, which
        /// TorchSharp binds internally but does not expose. Callers own a live CPU tensor and write only within its numel.
        /// </summary>
        internal static IntPtr TensorData(torch.Tensor tensor)
        {
            CheckDefined(tensor, nameof(tensor));
            if (tensor.device_type != DeviceType.CPU)
                throw new ArgumentException($"{nameof(tensor)} must be a CPU tensor, but it is on {tensor.device_type}.", nameof(tensor));
            return THSTensor_data(tensor.Handle);
        }

        [DllImport("LibTorchSharp")]
        private static extern IntPtr THSTensor_data(IntPtr handle);

        /// <summary>True when libtorch's fused AMP kernels were found (else the grad scaler uses plain tensor ops).</summary>
        internal static bool HasFusedAmpKernels
        {
            get { EnsureLoaded(); return _nonFiniteCheckAndUnscale != null && _updateScale != null; }
        }

        /// <summary>True when libtorch's fused AdamW kernel was found (else AdamW runs TorchSharp's per-op update).</summary>
        internal static bool HasFusedAdamW
        {
            get { EnsureLoaded(); return _fusedAdamW != null; }
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
            IntPtr[]? heap = grads.Length > MaxStackGradients ? new IntPtr[grads.Length] : null;
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

        /// <summary>
        /// <c>at::_fused_adamw_(params, grads, exp_avgs, exp_avg_sqs, {}, state_steps, lr, beta1, beta2, weight_decay, eps,
        /// amsgrad: false, maximize)</c>: one AdamW step for every parameter, in place. The CPU kernel walks each
        /// tensor's storage as a flat array, so the four tensors of a parameter must be dense with the same strides; it
        /// reads each step count (already incremented) from its one-element float tensor.
        /// </summary>
        internal static void FusedAdamW(torch.Tensor[] parameters, torch.Tensor[] grads, torch.Tensor[] expAvgs, torch.Tensor[] expAvgSqs,
            torch.Tensor[] steps, double lr, double beta1, double beta2, double weightDecay, double eps, bool maximize)
        {
            int n = CheckDefined(parameters, nameof(parameters));
            if (CheckDefined(grads, nameof(grads)) != n || CheckDefined(expAvgs, nameof(expAvgs)) != n ||
                CheckDefined(expAvgSqs, nameof(expAvgSqs)) != n || CheckDefined(steps, nameof(steps)) != n)
                throw new ArgumentException("parameters, grads, expAvgs, expAvgSqs and steps must have one entry per parameter.");
            for (int i = 0; i < n; i++)
            {
                if (!IsFusedAdamWLayout(parameters[i], grads[i], expAvgs[i], expAvgSqs[i]))
                    throw new ArgumentException($"parameters[{i}]: the fused AdamW needs CPU float tensors of one dense layout for the " +
                                                "parameter, its gradient and its moments.", nameof(parameters));
                if (steps[i].device_type != DeviceType.CPU || steps[i].dtype != ScalarType.Float32 || steps[i].numel() != 1)
                    throw new ArgumentException($"steps[{i}] must be a one-element float32 CPU tensor.", nameof(steps));
            }
            EnsureLoaded();
            if (_fusedAdamW == null)
                throw new EntryPointNotFoundException($"libtorch does not export '{FusedAdamWName}'.");
            var impls = new IntPtr[5 * n];
            for (int i = 0; i < n; i++)
            {
                impls[i] = *(IntPtr*)parameters[i].Handle;
                impls[n + i] = *(IntPtr*)grads[i].Handle;
                impls[2 * n + i] = *(IntPtr*)expAvgs[i].Handle;
                impls[3 * n + i] = *(IntPtr*)expAvgSqs[i].Handle;
                impls[4 * n + i] = *(IntPtr*)steps[i].Handle;
            }
            var none = new OptionalTensor();
            fixed (IntPtr* data = impls)
            {
                var lists = new TensorArrayRef[5];
                for (int k = 0; k < lists.Length; k++)
                    lists[k] = new TensorArrayRef { Data = (IntPtr)(data + k * n), Length = (UIntPtr)(uint)n };
                var noMaxExpAvgSqs = new TensorArrayRef { Data = (IntPtr)data, Length = UIntPtr.Zero };
                _fusedAdamW(lists[0], lists[1], lists[2], lists[3], noMaxExpAvgSqs, lists[4], lr, beta1, beta2, weightDecay, eps,
                    0, maximize ? (byte)1 : (byte)0, &none, &none);
            }
            GC.KeepAlive(parameters);
            GC.KeepAlive(grads);
            GC.KeepAlive(expAvgs);
            GC.KeepAlive(expAvgSqs);
            GC.KeepAlive(steps);
        }

        /// <summary>
        /// Whether the fused AdamW kernel can update this parameter: float32 CPU tensors of one shape whose storage it
        /// may walk as one flat array (contiguous or channels-last dense, every tensor with the parameter's strides).
        /// </summary>
        internal static bool IsFusedAdamWLayout(torch.Tensor parameter, torch.Tensor grad, torch.Tensor expAvg, torch.Tensor expAvgSq)
        {
            var tensors = new[] { parameter, grad, expAvg, expAvgSq };
            foreach (var t in tensors)
                if (t is null || t.IsInvalid || t.device_type != DeviceType.CPU || t.dtype != ScalarType.Float32)
                    return false;
            long[] shape = parameter.shape, strides = parameter.stride();
            if (!IsDense(shape, strides))
                return false;
            for (int i = 1; i < tensors.Length; i++)
            {
                if (!tensors[i].shape.AsSpan().SequenceEqual(shape))
                    return false;
                // A size-1 dimension's stride says nothing about the layout (a 1x1 kernel's gradient may carry other values).
                long[] other = tensors[i].stride();
                for (int d = 0; d < shape.Length; d++)
                    if (shape[d] != 1 && other[d] != strides[d])
                        return false;
            }
            return true;
        }

        /// <summary>
        /// Whether the strides lay the elements out without gaps or overlaps in some order of the dimensions (contiguous,
        /// channels-last, or any other permutation), so the storage is exactly numel elements.
        /// </summary>
        private static bool IsDense(long[] shape, long[] strides)
        {
            if (Array.IndexOf(shape, 0L) >= 0)
                return true;
            var dims = new List<int>();
            for (int d = 0; d < shape.Length; d++)
                if (shape[d] != 1)
                    dims.Add(d);
            dims.Sort((a, b) => strides[a].CompareTo(strides[b]));
            long expected = 1;
            foreach (int d in dims)
            {
                if (strides[d] != expected)
                    return false;
                expected *= shape[d];
            }
            return true;
        }

        private static int CheckDefined(torch.Tensor[] tensors, string name)
        {
            if (tensors is null || tensors.Length == 0)
                throw new ArgumentException($"{name} must hold at least one tensor.", name);
            for (int i = 0; i < tensors.Length; i++)
                CheckDefined(tensors[i], $"{name}[{i}]");
            return tensors.Length;
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
                LibTorchRuntime.EnsureAvailable();
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
                _fusedAdamW = NativeLibrary.TryGetExport(lib, FusedAdamWName, out IntPtr c)
                    ? (delegate* unmanaged<TensorArrayRef, TensorArrayRef, TensorArrayRef, TensorArrayRef, TensorArrayRef, TensorArrayRef,
                        double, double, double, double, double, byte, byte, OptionalTensor*, OptionalTensor*, void>)c : null;
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
            // TorchSharp has loaded libtorch_cpu by now (LibTorchRuntime.EnsureAvailable touched it): dlopen by name returns
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

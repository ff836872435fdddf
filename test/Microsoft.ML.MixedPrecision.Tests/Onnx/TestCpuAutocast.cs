using System;
using System.IO;
using System.Runtime.InteropServices;
using TorchSharp;

namespace Microsoft.ML.MixedPrecision.Tests.Onnx
{
    /// <summary>
    /// TEST-LOCAL HELPER, not the library's autocast (that lives in src/.../Amp/). Turns libtorch's CPU autocast on
    /// for the current thread by calling at::autocast directly, the way Python's <c>torch.autocast("cpu")</c> does.
    /// </summary>
    internal sealed class TestCpuAutocast : IDisposable
    {
        private const sbyte CpuDevice = 0;     // c10::DeviceType::CPU
        private const sbyte BFloat16Type = 15; // c10::ScalarType::BFloat16

        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        private delegate void SetEnabledFn(sbyte device, [MarshalAs(UnmanagedType.U1)] bool enabled);
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        [return: MarshalAs(UnmanagedType.U1)]
        private delegate bool IsEnabledFn(sbyte device);
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        private delegate void SetDTypeFn(sbyte device, sbyte dtype);
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        private delegate sbyte GetDTypeFn(sbyte device);
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        private delegate int NestingFn();
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        private delegate void ClearCacheFn();

        private static readonly Lazy<Api> Native = new Lazy<Api>(Api.Load);

        private readonly bool _previousEnabled;
        private readonly sbyte _previousDType;

        public TestCpuAutocast()
        {
            Api api = Native.Value;
            _previousEnabled = api.IsEnabled(CpuDevice);
            _previousDType = api.GetDType(CpuDevice);
            api.SetDType(CpuDevice, BFloat16Type);
            api.SetEnabled(CpuDevice, true);
            api.IncrementNesting();
        }

        public static bool IsEnabled => Native.Value.IsEnabled(CpuDevice);

        public void Dispose()
        {
            Api api = Native.Value;
            // Leaving the outermost region drops the cached bf16 weight copies (they would go stale after a step).
            if (api.DecrementNesting() == 0)
                api.ClearCache();
            api.SetEnabled(CpuDevice, _previousEnabled);
            api.SetDType(CpuDevice, _previousDType);
        }

        private sealed class Api
        {
            public SetEnabledFn SetEnabled;
            public IsEnabledFn IsEnabled;
            public SetDTypeFn SetDType;
            public GetDTypeFn GetDType;
            public NestingFn IncrementNesting;
            public NestingFn DecrementNesting;
            public ClearCacheFn ClearCache;

            public static Api Load()
            {
                using (torch.zeros(1)) { } // Makes TorchSharp load libtorch into the process.
                IntPtr lib = LoadLibTorchCpu();
                return new Api
                {
                    SetEnabled = Get<SetEnabledFn>(lib, "_ZN2at8autocast20set_autocast_enabledEN3c1010DeviceTypeEb"),
                    IsEnabled = Get<IsEnabledFn>(lib, "_ZN2at8autocast19is_autocast_enabledEN3c1010DeviceTypeE"),
                    SetDType = Get<SetDTypeFn>(lib, "_ZN2at8autocast18set_autocast_dtypeEN3c1010DeviceTypeENS1_10ScalarTypeE"),
                    GetDType = Get<GetDTypeFn>(lib, "_ZN2at8autocast18get_autocast_dtypeEN3c1010DeviceTypeE"),
                    IncrementNesting = Get<NestingFn>(lib, "_ZN2at8autocast17increment_nestingEv"),
                    DecrementNesting = Get<NestingFn>(lib, "_ZN2at8autocast17decrement_nestingEv"),
                    ClearCache = Get<ClearCacheFn>(lib, "_ZN2at8autocast11clear_cacheEv"),
                };
            }

            private static IntPtr LoadLibTorchCpu()
            {
                if (NativeLibrary.TryLoad("libtorch_cpu.so", out IntPtr handle))
                    return handle;
                string[] dirs =
                {
                    Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native"),
                    Path.Combine(Path.GetDirectoryName(typeof(torch).Assembly.Location) ?? ".", "runtimes", "linux-x64", "native"),
                    AppContext.BaseDirectory,
                };
                foreach (string dir in dirs)
                {
                    if (NativeLibrary.TryLoad(Path.Combine(dir, "libtorch_cpu.so"), out handle))
                        return handle;
                }
                throw new DllNotFoundException("libtorch_cpu.so is not loadable; TorchSharp's native folder was not found.");
            }

            private static T Get<T>(IntPtr lib, string symbol) where T : Delegate
                => Marshal.GetDelegateForFunctionPointer<T>(NativeLibrary.GetExport(lib, symbol));
        }
    }
}

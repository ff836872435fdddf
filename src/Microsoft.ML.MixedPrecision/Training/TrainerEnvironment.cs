using System;
using System.Linq;
using System.Reflection;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.MixedPrecision.Training
{
    /// <summary>
    /// The user's ML.NET environment as a trainer created from a catalog sees it. ML.NET keeps a catalog's environment and
    /// the device switches internal (Microsoft's own trainers use friend access), so they are read by reflection here, in
    /// this one place, with a clear error if a future ML.NET changes them.
    /// </summary>
    internal sealed class TrainerEnvironment
    {
        private TrainerEnvironment(IHostEnvironment host, int? gpuDeviceId, bool fallbackToCpu)
        {
            Host = host;
            GpuDeviceId = gpuDeviceId;
            FallbackToCpu = fallbackToCpu;
            // Builds the stock transformers of the fitted model. They do not keep a reference to the user's context.
            Builder = new MLContext(seed: 0);
        }

        /// <summary>The environment whose log (mlContext.Log) and cancellation the trainer uses.</summary>
        public IHostEnvironment Host { get; }

        /// <summary>MLContext.GpuDeviceId at the time the trainer was created.</summary>
        public int? GpuDeviceId { get; }

        /// <summary>MLContext.FallbackToCpu at the time the trainer was created.</summary>
        public bool FallbackToCpu { get; }

        /// <summary>A context to create stock estimators with.</summary>
        public MLContext Builder { get; }

        public static TrainerEnvironment FromCatalog(object catalog)
        {
            if (catalog == null)
                throw new ArgumentNullException(nameof(catalog));
            // Catalogs implement ML.NET's internal IInternalCatalog { IHostEnvironment Environment }.
            var catalogInterface = catalog.GetType().GetInterfaces().FirstOrDefault(i => i.Name == "IInternalCatalog");
            var property = catalogInterface?.GetProperty("Environment", BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public);
            if (!(property?.GetValue(catalog) is IHostEnvironment env))
                throw new NotSupportedException(
                    $"This ML.NET version's {catalog.GetType().Name} does not expose its environment; Microsoft.ML.MixedPrecision needs ML.NET 5.0.x.");
            var internalInterface = env.GetType().GetInterfaces().FirstOrDefault(i => i.Name == "IHostEnvironmentInternal");
            int? gpu = internalInterface?.GetProperty("GpuDeviceId")?.GetValue(env) as int?;
            bool fallback = internalInterface?.GetProperty("FallbackToCpu")?.GetValue(env) as bool? ?? true;
            return new TrainerEnvironment(env, gpu, fallback);
        }
    }
}

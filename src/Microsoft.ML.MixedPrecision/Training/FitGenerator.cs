using System;
using Microsoft.ML.MixedPrecision.Kernels;
using TorchSharp;

namespace Microsoft.ML.MixedPrecision.Training
{
    /// <summary>
    /// What makes a fit's random numbers depend on its seed alone, even beside fits on other threads. Building the
    /// network draws its initial weights from libtorch's one process-wide generator (TorchSharp's layer constructors and
    /// <c>nn.init.kaiming_*</c> take no generator), so <see cref="CreateModel"/> seeds it and builds under one
    /// process-wide lock, then hands the generator's state on to the fit's own <see cref="Generator"/>; training draws
    /// (dropout masks) only from that one (<see cref="MakeCurrent"/>), and checkpoints save and restore it. Alone, a fit
    /// draws exactly what it drew from the global generator before. Outside the promise: user code that draws from
    /// libtorch's global generator on another thread while a fit builds its network (the lock covers fits only).
    /// </summary>
    internal sealed class FitGenerator : IDisposable
    {
        private static readonly object BuildLock = new object();
        private readonly int _seed;

        public FitGenerator(int seed)
        {
            _seed = seed;
            Generator = new torch.Generator((ulong)(uint)seed);
        }

        /// <summary>The fit's own CPU generator: after <see cref="CreateModel"/>, in the state the network's initialization left.</summary>
        public torch.Generator Generator { get; }

        /// <summary>
        /// Seeds libtorch's global generator with the fit's seed and calls <paramref name="create"/> under the process-wide
        /// lock, so no other fit's build interleaves its draws; then continues the fit's generator from where it stopped.
        /// </summary>
        public T CreateModel<T>(Func<T> create) where T : IDisposable
        {
            lock (BuildLock)
            {
                torch.manual_seed(_seed);
                var model = create();
                try
                {
                    using var global = torch.Generator.Default;
                    using var state = global.get_state();
                    Generator.set_state(state);
                }
                catch
                {
                    model.Dispose();
                    throw;
                }
                return model;
            }
        }

        /// <summary>
        /// Reseeds the fit's generator on ranks other than 0 of a data-parallel fit, so each rank draws its own dropout masks
        /// (rank 0 draws what a fit alone draws).
        /// </summary>
        public void DrawForRank(int rank)
        {
            if (rank > 0)
                Generator.manual_seed(ExampleOrder.SeedFor(_seed, -rank));
        }

        /// <summary>Makes the fit's generator the one this thread's kernels draw from, until the scope is disposed.</summary>
        public IDisposable MakeCurrent() => AmbientGenerator.Use(Generator);

        public void Dispose() => Generator.Dispose();
    }
}

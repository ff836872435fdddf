using System;
using TorchSharp;

namespace Microsoft.ML.MixedPrecision.Kernels
{
    /// <summary>
    /// The libtorch generator this thread's random kernels (<see cref="DropoutNoise"/>) draw from: a fit's own generator
    /// while the fit trains on this thread (<see cref="Use"/>), else libtorch's process-wide default generator, as before.
    /// Per thread, so fits on other threads draw from theirs and never move this one on.
    /// </summary>
    internal static class AmbientGenerator
    {
        [ThreadStatic]
        private static torch.Generator? _current;

        /// <summary>The generator set on this thread by <see cref="Use"/>; null: libtorch's default generator.</summary>
        public static torch.Generator? Current => _current;

        /// <summary>Makes <paramref name="generator"/> this thread's until the returned scope is disposed (then the previous one again).</summary>
        public static IDisposable Use(torch.Generator generator)
        {
            var scope = new Scope(_current);
            _current = generator ?? throw new ArgumentNullException(nameof(generator));
            return scope;
        }

        private sealed class Scope : IDisposable
        {
            private readonly torch.Generator? _previous;
            private bool _disposed;

            public Scope(torch.Generator? previous) => _previous = previous;

            public void Dispose()
            {
                if (_disposed)
                    return;
                _disposed = true;
                _current = _previous;
            }
        }
    }
}

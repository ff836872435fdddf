using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.MixedPrecision.Training
{
    /// <summary>
    /// Progress messages into ML.NET's own log channel (<c>mlContext.Log</c>), plus ML.NET's cancellation signal.
    /// </summary>
    internal sealed class TrainingLog : IDisposable
    {
        private readonly IHost _host;
        private readonly IChannel _channel;
        private readonly PropertyInfo? _isCanceled;

        public TrainingLog(IHostEnvironment environment, string componentName)
        {
            _host = environment.Register(componentName);
            _channel = _host.Start("Training");
            // ML.NET 5 keeps MLContext.CancelExecution() and ICancelable internal (AutoML and Model Builder call it);
            // read the host's flag through its interface so their cancellation stops our training too.
            var cancelable = _host.GetType().GetInterfaces().FirstOrDefault(i => i.Name == "ICancelable");
            _isCanceled = cancelable?.GetProperty("IsCanceled");
        }

        public bool IsCanceled
        {
            get
            {
                try
                {
                    return _isCanceled != null && (bool)_isCanceled.GetValue(_host)!;
                }
                catch (TargetInvocationException)
                {
                    return false;
                }
            }
        }

        /// <summary>Throws <see cref="OperationCanceledException"/> when the option's token or ML.NET's own cancel asks to stop.</summary>
        public void ThrowIfCanceled(System.Threading.CancellationToken token)
        {
            token.ThrowIfCancellationRequested();
            if (IsCanceled)
                throw new OperationCanceledException("Training was canceled through MLContext.");
        }

        /// <summary>A seed drawn from the MLContext's random source (reproducible with <c>new MLContext(seed)</c>).</summary>
        public int NewSeed() => _host.Rand.Next();

        public void Info(string message) => _channel.Info(MessageSensitivity.None, message);

        public void Warning(string message) => _channel.Warning(MessageSensitivity.None, message);

        private readonly List<SkippedRows> _skipped = new List<SkippedRows>();

        /// <summary>Rows this fit skipped so far (in <see cref="TrainingSummary.SkippedRows"/> of the fitted model).</summary>
        public IReadOnlyList<SkippedRows> Skipped => _skipped;

        /// <summary>Warns that <paramref name="count"/> rows of <paramref name="data"/> were skipped and why, and records it for the summary.</summary>
        public void SkippedRows(string data, string reason, long count)
        {
            _skipped.Add(new SkippedRows(data, reason, count));
            Warning($"Skipped {count} rows of the {data}: {reason}.");
        }

        public void Dispose() => _channel.Dispose();
    }
}

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using Microsoft.ML.Data;

namespace Microsoft.ML.MixedPrecision.Benchmarks.Workloads
{
    /// <summary>Rows per second of a loaded model: a Transform pass reading every Score vector, then single-row predictions.</summary>
    internal static class ScoringTimer
    {
        public static ScoringRun Measure<TRow, TPrediction>(MLContext mlContext, ITransformer model, IReadOnlyList<TRow> rows,
            Func<TRow, TPrediction> predict, int engineRows)
            where TRow : class
        {
            // Warm-up: the first rows pay for ONNX Runtime's lazy initialization.
            ReadScores(model.Transform(mlContext.Data.LoadFromEnumerable(rows.Take(32))));
            for (int i = 0; i < Math.Min(16, rows.Count); i++)
                predict(rows[i]);

            var clock = Stopwatch.StartNew();
            long scored = ReadScores(model.Transform(mlContext.Data.LoadFromEnumerable(rows)));
            double transformRate = scored / clock.Elapsed.TotalSeconds;

            int count = Math.Min(engineRows, rows.Count);
            clock.Restart();
            for (int i = 0; i < count; i++)
                predict(rows[i]);
            double engineRate = count / clock.Elapsed.TotalSeconds;
            return new ScoringRun { TransformRowsPerSecond = transformRate, PredictionEngineRowsPerSecond = engineRate };
        }

        private static long ReadScores(IDataView scored)
        {
            var column = scored.Schema["Score"];
            long rows = 0;
            using var cursor = scored.GetRowCursor(new[] { column });
            var getter = cursor.GetGetter<VBuffer<float>>(column);
            VBuffer<float> score = default;
            while (cursor.MoveNext())
            {
                getter(ref score);
                rows++;
            }
            return rows;
        }
    }
}

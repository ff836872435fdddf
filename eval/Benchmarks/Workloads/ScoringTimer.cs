using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using Microsoft.ML.Data;

namespace Microsoft.ML.MixedPrecision.Benchmarks.Workloads
{
    /// <summary>
    /// Rows per second of a saved model, loaded in a fresh MLContext: a Transform pass reading every Score vector, then
    /// single-row predictions through a PredictionEngine.
    /// </summary>
    internal static class ScoringTimer
    {
        public static ScoringRun Measure<TRow>(string modelPath, IReadOnlyList<TRow> rows, BenchSettings settings)
            where TRow : class
        {
            var mlContext = new MLContext(seed: settings.Seed);
            var model = mlContext.Model.Load(modelPath, out _);
            var engine = mlContext.Model.CreatePredictionEngine<TRow, ClassPrediction>(model);
            Func<TRow, ClassPrediction> predict = engine.Predict;
            int engineRows = settings.ScoringEngineRows;

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

        /// <summary>The classifier's output columns, as a user's prediction class declares them.</summary>
        private sealed class ClassPrediction
        {
            public string PredictedLabel { get; set; }
            public float[] Score { get; set; }
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

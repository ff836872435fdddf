using System;
using System.Globalization;
using System.IO;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace Microsoft.ML.MixedPrecision.ConsumerCheck
{
    /// <summary>
    /// Usage: ConsumerCheck &lt;model.zip&gt; &lt;bytes|image|text&gt; &lt;featureColumn&gt; &lt;imageFile or sentence&gt;...
    /// Loads the model with a plain MLContext (no RegisterAssembly call), scores the images and prints, per image,
    /// "ROW&lt;TAB&gt;predicted label&lt;TAB&gt;score;score;..." (scores in round-trip format), then the Score slot names
    /// and the names of the loaded assemblies that are not part of .NET or ML.NET.
    /// </summary>
    public static class Program
    {
        public sealed class BytesRow
        {
            public byte[] Bytes;
        }

        public sealed class PathRow
        {
            public string Path;
        }

        public sealed class TextRow
        {
            public string Text;
        }

        public static int Main(string[] args)
        {
            if (args.Length < 4)
            {
                Console.Error.WriteLine("usage: ConsumerCheck <model.zip> <bytes|image|text> <featureColumn> <imageFile or sentence>...");
                return 2;
            }
            string zip = args[0], kind = args[1], column = args[2];
            string[] files = args.Skip(3).ToArray();

            var ml = new MLContext(seed: 1);
            ITransformer model = ml.Model.Load(zip, out _);

            IDataView input;
            if (kind == "bytes")
            {
                var schema = SchemaDefinition.Create(typeof(BytesRow));
                schema[0].ColumnName = column;
                input = ml.Data.LoadFromEnumerable(files.Select(f => new BytesRow { Bytes = File.ReadAllBytes(f) }).ToList(), schema);
            }
            else if (kind == "text")
            {
                var schema = SchemaDefinition.Create(typeof(TextRow));
                schema[0].ColumnName = column;
                input = ml.Data.LoadFromEnumerable(files.Select(t => new TextRow { Text = t }).ToList(), schema);
            }
            else
            {
                IDataView paths = ml.Data.LoadFromEnumerable(files.Select(f => new PathRow { Path = f }).ToList());
                input = ml.Transforms.LoadImages(column, null, nameof(PathRow.Path)).Fit(paths).Transform(paths);
            }

            IDataView scored = model.Transform(input);
            scored = ml.Transforms.Conversion.MapKeyToValue("PredictedText", "PredictedLabel").Fit(scored).Transform(scored);
            var labels = scored.GetColumn<string>("PredictedText").ToList();
            var scores = scored.GetColumn<float[]>("Score").ToList();
            for (int i = 0; i < labels.Count; i++)
                Console.WriteLine("ROW\t" + labels[i] + "\t" + string.Join(";", scores[i].Select(s => s.ToString("R", CultureInfo.InvariantCulture))));

            VBuffer<ReadOnlyMemory<char>> slotNames = default;
            scored.Schema["Score"].GetSlotNames(ref slotNames);
            Console.WriteLine("SLOTNAMES\t" + string.Join(";", slotNames.DenseValues()));

            var metrics = ml.MulticlassClassification.Evaluate(
                ml.Transforms.CopyColumns("Label", "PredictedLabel").Fit(scored).Transform(scored), "Label", "Score", "PredictedLabel");
            Console.WriteLine("EVALUATE\t" + metrics.MicroAccuracy.ToString("R", CultureInfo.InvariantCulture));

            var extra = AppDomain.CurrentDomain.GetAssemblies().Select(a => a.GetName().Name)
                .Where(n => !n.StartsWith("System", StringComparison.Ordinal) && !n.StartsWith("Microsoft.ML.", StringComparison.Ordinal) && n != "Microsoft.ML"
                            && n != "mscorlib" && n != "netstandard" && !n.StartsWith("Microsoft.Win32", StringComparison.Ordinal)
                            && !n.StartsWith("Microsoft.Extensions", StringComparison.Ordinal) && n != "Microsoft.CSharp" && n != "Microsoft.VisualBasic.Core")
                .Concat(AppDomain.CurrentDomain.GetAssemblies().Select(a => a.GetName().Name).Where(n => n.StartsWith("Microsoft.ML.MixedPrecision", StringComparison.Ordinal)))
                .Distinct().OrderBy(n => n, StringComparer.Ordinal);
            Console.WriteLine("ASSEMBLIES\t" + string.Join(";", extra));
            return 0;
        }
    }
}

// Usage: Microsoft.ML.MixedPrecision.Benchmarks.Chart <chart-data.json> <output.png>
using System;
using System.IO;
using System.Text.Json;
using Microsoft.ML.MixedPrecision.Benchmarks.Chart;
using Microsoft.ML.MixedPrecision.Benchmarks.Report;

if (args.Length != 2)
{
    Console.Error.WriteLine("usage: Microsoft.ML.MixedPrecision.Benchmarks.Chart <chart-data.json> <output.png>");
    return 2;
}
var data = JsonSerializer.Deserialize<ChartData>(File.ReadAllText(args[0]));
BenchChart.Save(args[1], data);
Console.WriteLine($"chart written to {args[1]}");
return 0;

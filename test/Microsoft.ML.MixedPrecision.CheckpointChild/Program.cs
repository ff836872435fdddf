using System;
using Microsoft.ML;
using Microsoft.ML.MixedPrecision;
using Microsoft.ML.MixedPrecision.Tests.Training;

// Usage: CheckpointChild <checkpoint folder, or - for none> <Float32|BFloat16>, or CheckpointChild oom <extra MiB> (MemoryLimitRun)
// Prints "STEP\t<n>" after optimizer step n is checkpointed (within an epoch), "LOG\t<message>" when the fit resumes
// from a checkpoint, then the fit's outcome (CheckpointRun.Outcome), one line each.
if (args.Length == 2 && args[0] == "oom")
    return MemoryLimitRun.Run(int.Parse(args[1]));
if (args.Length != 2)
{
    Console.Error.WriteLine("Usage: CheckpointChild <checkpoint folder|-> <Float32|BFloat16>");
    return 2;
}
string folder = args[0] == "-" ? null : args[0];
var precision = Enum.Parse<TrainingPrecision>(args[1]);

var ml = new MLContext(seed: 1);
ml.Log += (_, e) =>
{
    if (e.Message.Contains("Resuming from checkpoint"))
        Console.WriteLine("LOG\t" + e.Message);
};
var options = CheckpointRun.Options(folder, everySteps: 1);
options.MetricsEveryBatches = 1;
// Mid-epoch reports come after the step's checkpoint is written (the epoch-end one comes before its checkpoint).
options.MetricsCallback = m =>
{
    if (!m.IsEpochEnd)
        Console.WriteLine("STEP\t" + m.OptimizerSteps);
};
var model = CheckpointRun.Fit(ml, options, precision);
foreach (var line in CheckpointRun.Outcome(ml, model))
    Console.WriteLine(line);
return 0;

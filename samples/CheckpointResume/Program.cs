using Microsoft.ML;
using Microsoft.ML.MixedPrecision;

var mlContext = new MLContext(seed: 1);
mlContext.Log += (_, e) => { if (e.Message.Contains("heckpoint")) Console.WriteLine(e.Message); };
var data = mlContext.Data.LoadFromEnumerable(new[]
{
    new Row("the striker scored a goal", "sports"), new Row("bake the dough with butter", "cooking"),
    new Row("the rocket reached orbit", "space"), new Row("the referee stopped the match", "sports"),
    new Row("simmer the garlic sauce", "cooking"), new Row("a comet passed the planet", "space"),
});
var options = new TextClassificationTrainer.Options
{
    Sentence1ColumnName = "Text", Encoder = TextEncoderKind.FromScratch, MinTokenCount = 1,
    Epochs = 5, BatchSize = 2, ValidationSetFraction = 0,
    Seed = 1,                           // a resumed fit must draw the same random numbers: fix the seed
    CheckpointDirectory = "checkpoints",
    CheckpointEverySteps = 2,           // optimizer steps; a checkpoint is also written at every epoch's end
};
var model = mlContext.Transforms.Conversion.MapValueToKey("Label")
    .Append(mlContext.MulticlassClassification.Trainers.TextClassification(options).WithMixedPrecision())
    .Fit(data); // killed half-way? Run it again: it logs "Resuming from checkpoint '…' (epoch 3, batch 2, step 8)."

record Row(string Text, string Label);

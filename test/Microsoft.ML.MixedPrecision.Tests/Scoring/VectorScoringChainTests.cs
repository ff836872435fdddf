using System;
using System.Linq;
using FluentAssertions;
using Microsoft.ML.Data;
using Microsoft.ML.MixedPrecision.Export;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.MixedPrecision.Tests.Scoring
{
    [TestClass]
    public sealed class VectorScoringChainTests
    {
        [TestMethod]
        public void VectorInput_FeedsOnnxDirectly_AndGetsTheSamePostProcessing()
        {
            using var d = new ScoringTestData(imageCount: 5, seed: 11);
            var ml = new MLContext(1);
            var schema = SchemaDefinition.Create(typeof(VectorInput));
            schema["Features"].ColumnType = new VectorDataViewType(NumberDataViewType.Single, d.FeatureCount);
            IDataView raw = ml.Data.LoadFromEnumerable(d.Samples.Select(s => new VectorInput { Features = s.Pixels, Label = s.Label }).ToList(), schema);
            IDataView data = ml.Transforms.Conversion.MapValueToKey("Label").Fit(raw).Transform(raw);
            var names = ClassificationOutputChain.GetClassNames(data.Schema["Label"], out int k);

            var model = ClassificationOutputChain.BuildForVectorInput(ml, d.VectorModel(), "Features", d.FeatureCount, names, k);
            IDataView scored = model.Transform(data);

            scored.Schema.Where(c => !c.IsHidden).Select(c => c.Name).Should().BeEquivalentTo(new[] { "Features", "Label", "Score", "PredictedLabel" });
            VBuffer<ReadOnlyMemory<char>> slotNames = default;
            scored.Schema["Score"].GetSlotNames(ref slotNames);
            slotNames.DenseValues().Select(s => s.ToString()).Should().Equal("cat", "dog", "bird");
            var keys = scored.GetColumn<uint>("PredictedLabel").ToList();
            for (int i = 0; i < d.Samples.Count; i++)
                keys[i].Should().Be((uint)ScoringTestData.ArgMax(d.ReferenceProbabilities(d.Samples[i].Pixels)) + 1);
        }

        [TestMethod]
        public void NonTextKeyValues_BecomeText()
        {
            var ml = new MLContext(1);
            IDataView raw = ml.Data.LoadFromEnumerable(new[] { new NumberLabel { Label = 7 }, new NumberLabel { Label = 3 } });
            IDataView data = ml.Transforms.Conversion.MapValueToKey("Label").Fit(raw).Transform(raw);
            var names = ClassificationOutputChain.GetClassNames(data.Schema["Label"], out int k);
            k.Should().Be(2);
            names.DenseValues().Select(n => n.ToString()).Should().Equal("7", "3");
        }

        public sealed class NumberLabel
        {
            public int Label;
        }
    }
}

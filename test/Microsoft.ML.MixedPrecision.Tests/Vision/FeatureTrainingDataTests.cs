using System;
using System.Linq;
using FluentAssertions;
using Microsoft.ML.MixedPrecision.Vision;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.MixedPrecision.Tests.Vision
{
    [TestClass]
    public class FeatureTrainingDataTests
    {
        // Row i's features are (i, i) and its mirror's (-i, -i), so a batch says which each row came from.
        private static FeatureTrainingData Rows(int count, bool withMirrors)
        {
            var features = Enumerable.Range(0, count).SelectMany(i => new float[] { i, i }).ToArray();
            var mirrored = withMirrors ? features.Select(f => -f).ToArray() : null;
            return new FeatureTrainingData(features, mirrored, Enumerable.Range(0, count).Select(i => (long)(i % 3)).ToArray(), 2);
        }

        [TestMethod]
        public void An_augmented_batch_takes_each_rows_mirror_at_random_and_an_unaugmented_one_never()
        {
            var data = Rows(200, withMirrors: true);
            var indices = Enumerable.Range(1, 199).ToArray();

            var augmented = data.CreateBatch(indices, new Random(4), augment: true);
            int mirrored = Enumerable.Range(0, indices.Length).Count(b => augmented.Features[2 * b] == -indices[b]);
            int original = Enumerable.Range(0, indices.Length).Count(b => augmented.Features[2 * b] == indices[b]);
            (mirrored + original).Should().Be(indices.Length, "every row is the image's features or its mirror's");
            mirrored.Should().BeInRange(70, 129, "about half of 199 rows (binomial, ±4 σ)");
            augmented.Labels.Should().Equal(indices.Select(i => (long)(i % 3)));

            var plain = data.CreateBatch(indices, new Random(4), augment: false);
            plain.Features.Should().Equal(indices.SelectMany(i => new float[] { i, i }));
        }

        [TestMethod]
        public void Without_mirrored_features_an_augmented_batch_is_the_plain_one()
        {
            var data = Rows(10, withMirrors: false);
            var batch = data.CreateBatch(new[] { 3, 7 }, new Random(1), augment: true);
            batch.Features.Should().Equal(3f, 3f, 7f, 7f);
        }
    }
}

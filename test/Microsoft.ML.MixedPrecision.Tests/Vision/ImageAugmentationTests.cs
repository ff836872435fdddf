using System;
using System.Linq;
using FluentAssertions;
using Microsoft.ML.MixedPrecision.Vision;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.MixedPrecision.Tests.Vision
{
    [TestClass]
    public class ImageAugmentationTests
    {
        private const int Channels = 2, Height = 40, Width = 64;

        /// <summary>Planar image whose value is 4·x in channel 0 and 255 − 4·x in channel 1, equal down every column.</summary>
        private static byte[] HorizontalRamp()
        {
            var image = new byte[Channels * Height * Width];
            for (int y = 0; y < Height; y++)
                for (int x = 0; x < Width; x++)
                {
                    image[y * Width + x] = (byte)(4 * x);
                    image[Height * Width + y * Width + x] = (byte)(255 - 4 * x);
                }
            return image;
        }

        private static byte[] Augment(ImageAugmentation augmentation, byte[] source, int seed)
        {
            var target = new byte[source.Length];
            augmentation.Apply(source, target, new byte[source.Length], Channels, Height, Width, new Random(seed));
            return target;
        }

        private static byte[] Row(byte[] image, int channel, int y) => image.Skip(channel * Height * Width + y * Width).Take(Width).ToArray();

        [TestMethod]
        public void A_random_resized_crop_zooms_into_the_image_without_mixing_rows_or_channels()
        {
            var source = HorizontalRamp();
            var crop = new ImageAugmentation(ShiftPixels: 0, HorizontalFlip: false, MinCropArea: 0.3);
            int zoomed = 0;
            for (int seed = 0; seed < 20; seed++)
            {
                var output = Augment(crop, source, seed);
                for (int channel = 0; channel < Channels; channel++)
                {
                    var first = Row(output, channel, 0);
                    for (int y = 1; y < Height; y++)
                        Row(output, channel, y).Should().Equal(first, "the ramp is equal down each column, and so must be any crop of it");
                    var steps = first.Zip(first.Skip(1), (a, b) => b - a).ToArray();
                    if (channel == 0)
                        steps.Should().OnlyContain(d => d >= 0 && d <= 4, "a crop stretched back to full width rises no faster than the ramp");
                    else
                        steps.Should().OnlyContain(d => d <= 0 && d >= -4);
                }
                var ramp = Row(output, 0, 0);
                if (ramp.Last() - ramp.First() < 4 * (Width - 1) * 0.95)
                    zoomed++;
            }
            zoomed.Should().BeGreaterThan(10, "with at least 30 % of the area kept, most crops are clearly smaller than the image");
        }

        [TestMethod]
        public void The_crop_keeps_a_flat_image_flat_and_is_the_same_for_the_same_seed()
        {
            var flat = Enumerable.Repeat((byte)137, Channels * Height * Width).ToArray();
            var crop = new ImageAugmentation(0, HorizontalFlip: true, MinCropArea: 0.2);
            Augment(crop, flat, 3).Should().OnlyContain(v => v == 137);

            var source = HorizontalRamp();
            Augment(crop, source, 5).Should().Equal(Augment(crop, source, 5));
            Augment(crop, source, 5).Should().NotEqual(Augment(crop, source, 6));
        }

        [TestMethod]
        public void Without_the_crop_shift_and_flip_move_pixels_as_before()
        {
            var source = HorizontalRamp();
            new ImageAugmentation(0, false).IsNone.Should().BeTrue();
            new ImageAugmentation(0, false, MinCropArea: 0.5).IsNone.Should().BeFalse();
            new ImageAugmentation(0, false).Description.Should().Be("none");
            new ImageAugmentation(10, true, 0.25).Description.Should().Be("random-resized crop (25–100 % of the area), shift up to 10 px, left-right mirror");

            // One draw of each: dx, dy, then the mirror coin, from the same Random the fit hands in.
            var expectedRandom = new Random(11);
            int dx = expectedRandom.Next(-3, 4), dy = expectedRandom.Next(-3, 4);
            bool flip = expectedRandom.Next(2) == 1;
            var output = Augment(new ImageAugmentation(3, true), source, 11);
            for (int y = 0; y < Height; y++)
                for (int x = 0; x < Width; x++)
                {
                    int sx = (flip ? Width - 1 - x : x) + dx, sy = y + dy;
                    byte expected = sx < 0 || sx >= Width || sy < 0 || sy >= Height ? (byte)0 : source[sy * Width + sx];
                    output[y * Width + x].Should().Be(expected);
                }
        }
    }
}

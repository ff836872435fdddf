using System;
using System.IO;
using System.Linq;
using FluentAssertions;
using Microsoft.ML.MixedPrecision.Benchmarks.Peer;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Tests.Benchmarks
{
    /// <summary>The folder of raw tensors the benchmark hands to its PyTorch peer (the peer's reader is not run here).</summary>
    [TestClass]
    public class TensorFolderTests
    {
        [TestMethod]
        public void Tensor_folder_round_trips_names_shapes_and_values_in_logical_order()
        {
            string folder = Path.Combine(Path.GetTempPath(), "tensor-folder-test-" + Guid.NewGuid().ToString("N"));
            try
            {
                using var scope = NewDisposeScope();
                // A channels_last-like view: permuted storage, logical shape [2, 3, 2, 2].
                var weight = arange(24, ScalarType.Float32).reshape(2, 2, 2, 3).permute(0, 3, 1, 2);
                var ids = tensor(new long[] { 5, -1, long.MaxValue, 0 }, new long[] { 2, 2 });
                var count = tensor(7L);
                TensorFolder.Write(folder, new[] { ("blocks.0.conv1.weight", weight), ("input0", ids), ("bn1.num_batches_tracked", count) });

                var read = TensorFolder.Read(folder);

                read.Select(t => t.Name).Should().Equal("blocks.0.conv1.weight", "input0", "bn1.num_batches_tracked");
                read[0].Tensor.shape.Should().Equal(2, 3, 2, 2);
                read[0].Tensor.data<float>().ToArray().Should().Equal(weight.contiguous().data<float>().ToArray());
                read[1].Tensor.dtype.Should().Be(ScalarType.Int64);
                read[1].Tensor.data<long>().ToArray().Should().Equal(5, -1, long.MaxValue, 0);
                read[2].Tensor.shape.Should().BeEmpty();
                read[2].Tensor.item<long>().Should().Be(7);
                File.ReadAllBytes(Path.Combine(folder, "0001.bin")).Length.Should().Be(4 * sizeof(long));
                foreach (var (_, t) in read)
                    t.Dispose();
            }
            finally
            {
                Directory.Delete(folder, recursive: true);
            }
        }

        [TestMethod]
        public void Tensor_folder_refuses_a_dtype_the_peer_cannot_read()
        {
            string folder = Path.Combine(Path.GetTempPath(), "tensor-folder-test-" + Guid.NewGuid().ToString("N"));
            try
            {
                using var half = ones(2, dtype: ScalarType.BFloat16);
                var write = () => TensorFolder.Write(folder, new[] { ("w", half) });
                write.Should().Throw<ArgumentException>().WithMessage("*'w'*BFloat16*");
            }
            finally
            {
                if (Directory.Exists(folder))
                    Directory.Delete(folder, recursive: true);
            }
        }
    }
}

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using FluentAssertions;
using Microsoft.ML.MixedPrecision.Training;
using Microsoft.ML.MixedPrecision.Training.Checkpoints;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Tests.Training
{
    /// <summary>Checkpoint files are written atomically, bounded in number, and a damaged newest one falls back to the one before.</summary>
    [TestClass]
    public sealed class CheckpointStoreTests
    {
        private string _folder;

        [TestInitialize]
        public void CreateFolder() => _folder = Path.Combine(Path.GetTempPath(), $"mp-ckpt-store-{Guid.NewGuid():N}");

        [TestCleanup]
        public void DeleteFolder()
        {
            if (Directory.Exists(_folder))
                Directory.Delete(_folder, recursive: true);
        }

        private static List<KeyValuePair<string, Tensor>> Tensors(float value) => new List<KeyValuePair<string, Tensor>>
        {
            KeyValuePair.Create("model/weight", full(new long[] { 3, 4 }, value)),
            KeyValuePair.Create("model/num_batches_tracked", tensor(42L)),
            KeyValuePair.Create("rng/cpu", tensor(new byte[] { 1, 2, 3, 250 })),
        };

        [TestMethod]
        public void Tensors_and_json_come_back_bit_for_bit()
        {
            var store = new CheckpointStore(_folder, keep: 2, log: null);
            store.Write(1, "{\"epoch\":3}", Tensors(0.1f));

            var read = store.ReadLatest().Value;
            try
            {
                read.Sequence.Should().Be(1);
                read.Json.Should().Be("{\"epoch\":3}");
                read.Tensors["model/weight"].shape.Should().Equal(3, 4);
                read.Tensors["model/weight"].data<float>().ToArray().Should().AllBeEquivalentTo(0.1f);
                read.Tensors["model/num_batches_tracked"].dtype.Should().Be(ScalarType.Int64);
                read.Tensors["model/num_batches_tracked"].item<long>().Should().Be(42);
                read.Tensors["rng/cpu"].data<byte>().ToArray().Should().Equal(1, 2, 3, 250);
            }
            finally
            {
                CheckpointFile.Dispose(read.Tensors);
            }
        }

        [TestMethod]
        public void Only_the_newest_checkpoints_are_kept()
        {
            var store = new CheckpointStore(_folder, keep: 2, log: null);
            for (int i = 1; i <= 5; i++)
                store.Write(i, "{}", Tensors(i));

            store.List().Select(f => f.Sequence).Should().Equal(5, 4);
            Directory.GetFiles(_folder).Select(Path.GetFileName).Should().BeEquivalentTo("checkpoint-00000005.mpckpt", "checkpoint-00000004.mpckpt");
        }

        [TestMethod]
        public void A_crash_during_a_write_leaves_the_previous_checkpoint_as_the_one_read()
        {
            var ml = new MLContext(seed: 1);
            var warnings = new List<string>();
            ml.Log += (_, e) => { if (e.Kind == Microsoft.ML.Runtime.ChannelMessageKind.Warning) lock (warnings) warnings.Add(e.Message); };
            using var log = new TrainingLog(ml, "CheckpointTest");
            var store = new CheckpointStore(_folder, keep: 3, log);
            store.Write(1, "{\"good\":1}", Tensors(1));
            store.Write(2, "{\"good\":2}", Tensors(2));
            byte[] whole = File.ReadAllBytes(store.PathOf(2));

            // A crash mid-write: the temporary file of checkpoint 3 is half written and never renamed...
            File.WriteAllBytes(store.PathOf(3) + ".tmp", whole.AsSpan(0, whole.Length / 2).ToArray());
            // ...and, worse (a disk that lost the data of a renamed file), a checkpoint 4 in place but cut short.
            File.WriteAllBytes(store.PathOf(4), whole.AsSpan(0, whole.Length - 7).ToArray());

            var read = store.ReadLatest().Value;
            CheckpointFile.Dispose(read.Tensors);
            read.Sequence.Should().Be(2, "the newest whole checkpoint survives");
            read.Json.Should().Be("{\"good\":2}");
            warnings.Should().ContainSingle(w => w.Contains("checkpoint-00000004.mpckpt") && w.Contains("checksum"));
        }

        [TestMethod]
        public void A_damaged_byte_anywhere_makes_a_checkpoint_unreadable_with_the_reason()
        {
            var store = new CheckpointStore(_folder, keep: 2, log: null);
            string path = store.Write(1, "{}", Tensors(1));
            byte[] bytes = File.ReadAllBytes(path);
            bytes[bytes.Length / 2] ^= 0x10;

            Action read = () => CheckpointFile.Read(bytes);
            read.Should().Throw<InvalidDataException>().WithMessage("*checksum does not match*");
            Action foreign = () => CheckpointFile.Read(new byte[100]);
            foreign.Should().Throw<InvalidDataException>().WithMessage("*not a checkpoint*");
        }

        [TestMethod]
        public void Delete_all_removes_checkpoints_and_leftover_temporary_files_only()
        {
            var store = new CheckpointStore(_folder, keep: 2, log: null);
            store.Write(1, "{}", Tensors(1));
            File.WriteAllText(store.PathOf(2) + ".tmp", "half");
            File.WriteAllText(Path.Combine(_folder, "notes.txt"), "the user's");

            store.DeleteAll().Should().Be(2);
            Directory.GetFiles(_folder).Select(Path.GetFileName).Should().Equal("notes.txt");
        }
    }
}

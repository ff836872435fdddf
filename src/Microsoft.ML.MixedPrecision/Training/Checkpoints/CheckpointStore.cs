using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Training.Checkpoints
{
    /// <summary>
    /// The checkpoint files of one folder: <c>checkpoint-00000042.mpckpt</c>, numbered in the order they were written.
    /// A write goes to a temporary file in the same folder, is flushed to disk, then renamed into place, so a crash
    /// during the write leaves the previous checkpoint as the newest complete one. Only the newest
    /// <see cref="Keep"/> are kept. Reading takes the newest file that is whole, skipping (with a warning) any that is not.
    /// </summary>
    internal sealed class CheckpointStore
    {
        private const string Prefix = "checkpoint-";
        public const string Extension = ".mpckpt";
        private const string TemporaryExtension = ".tmp";

        private readonly TrainingLog _log;

        public CheckpointStore(string directory, int keep, TrainingLog log)
        {
            if (string.IsNullOrWhiteSpace(directory))
                throw new ArgumentException("A checkpoint folder is needed.", nameof(directory));
            if (keep < 1)
                throw new ArgumentOutOfRangeException(nameof(keep), keep, "At least one checkpoint must be kept.");
            Directory = Path.GetFullPath(directory);
            Keep = keep;
            _log = log;
        }

        public string Directory { get; }
        public int Keep { get; }

        /// <summary>The path of checkpoint number <paramref name="sequence"/>.</summary>
        public string PathOf(long sequence) => Path.Combine(Directory, Prefix + sequence.ToString("D8", CultureInfo.InvariantCulture) + Extension);

        /// <summary>The checkpoint files, newest first, with their numbers.</summary>
        public IReadOnlyList<(long Sequence, string Path)> List()
        {
            if (!System.IO.Directory.Exists(Directory))
                return Array.Empty<(long, string)>();
            return System.IO.Directory.EnumerateFiles(Directory, Prefix + "*" + Extension)
                .Select(path => (Ok: long.TryParse(Path.GetFileNameWithoutExtension(path).Substring(Prefix.Length), NumberStyles.None,
                    CultureInfo.InvariantCulture, out long n), Sequence: n, Path: path))
                .Where(f => f.Ok)
                .OrderByDescending(f => f.Sequence)
                .Select(f => (f.Sequence, f.Path))
                .ToList();
        }

        /// <summary>
        /// Writes checkpoint number <paramref name="sequence"/> atomically (temporary file, flush to disk, rename), then
        /// deletes all but the newest <see cref="Keep"/>. Returns its path.
        /// </summary>
        public string Write(long sequence, string json, IReadOnlyList<KeyValuePair<string, Tensor>> tensors)
        {
            System.IO.Directory.CreateDirectory(Directory);
            string path = PathOf(sequence);
            string temporary = path + TemporaryExtension;
            try
            {
                using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
                {
                    CheckpointFile.Write(stream, json, tensors);
                    stream.Flush(flushToDisk: true);
                }
                File.Move(temporary, path, overwrite: true);
            }
            catch
            {
                TryDelete(temporary);
                throw;
            }
            foreach (var (_, old) in List().Skip(Keep))
                TryDelete(old);
            return path;
        }

        /// <summary>
        /// The newest whole checkpoint (its JSON and tensors, the caller disposes them), or null when there is none. Files
        /// that are damaged or cut short are skipped with a warning naming them and why.
        /// </summary>
        public (long Sequence, string Path, string Json, Dictionary<string, Tensor> Tensors)? ReadLatest()
        {
            foreach (var (sequence, path) in List())
            {
                try
                {
                    var (json, tensors) = CheckpointFile.Read(File.ReadAllBytes(path));
                    return (sequence, path, json, tensors);
                }
                catch (Exception e) when (e is InvalidDataException || e is IOException)
                {
                    _log?.Warning($"Skipping checkpoint '{path}': {e.Message}. Trying the one before it.");
                }
            }
            return null;
        }

        /// <summary>Deletes every checkpoint file of the folder (and temporary files a crash left); returns how many.</summary>
        public int DeleteAll()
        {
            if (!System.IO.Directory.Exists(Directory))
                return 0;
            int deleted = 0;
            foreach (var path in System.IO.Directory.EnumerateFiles(Directory, Prefix + "*" + Extension + "*").ToList())
                deleted += TryDelete(path) ? 1 : 0;
            return deleted;
        }

        private static bool TryDelete(string path)
        {
            try
            {
                File.Delete(path);
                return true;
            }
            catch (Exception e) when (e is IOException || e is UnauthorizedAccessException)
            {
                return false;
            }
        }
    }
}

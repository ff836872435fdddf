using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text.Json;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Benchmarks.Peer
{
    /// <summary>
    /// Named tensors as a folder the PyTorch peer reads (Peer/tensor_folder.py): <c>manifest.json</c> lists each tensor's
    /// name, file, dtype ("float32" or "int64") and shape; each file holds the raw little-endian values in row-major
    /// (logical) order, whatever the tensor's memory layout (channels_last weights are written as [out, in, kh, kw]).
    /// </summary>
    internal static class TensorFolder
    {
        public const string ManifestName = "manifest.json";

        private sealed record Entry(string name, string file, string dtype, long[] shape);

        private sealed record Manifest(List<Entry> tensors);

        public static void Write(string folder, IEnumerable<(string Name, Tensor Tensor)> tensors)
        {
            if (!BitConverter.IsLittleEndian)
                throw new PlatformNotSupportedException("The tensor folder format is little-endian.");
            Directory.CreateDirectory(folder);
            var entries = new List<Entry>();
            foreach (var (name, tensor) in tensors)
            {
                string file = $"{entries.Count:D4}.bin";
                using var contiguous = tensor.detach().cpu().contiguous();
                byte[] bytes = contiguous.dtype switch
                {
                    ScalarType.Float32 => MemoryMarshal.AsBytes(contiguous.data<float>().ToArray().AsSpan()).ToArray(),
                    ScalarType.Int64 => MemoryMarshal.AsBytes(contiguous.data<long>().ToArray().AsSpan()).ToArray(),
                    _ => throw new ArgumentException($"Tensor '{name}' is {contiguous.dtype}; the folder holds float32 and int64 only.", nameof(tensors)),
                };
                File.WriteAllBytes(Path.Combine(folder, file), bytes);
                entries.Add(new Entry(name, file, contiguous.dtype == ScalarType.Float32 ? "float32" : "int64", tensor.shape));
            }
            File.WriteAllText(Path.Combine(folder, ManifestName), JsonSerializer.Serialize(new Manifest(entries)));
        }

        /// <summary>The folder's tensors by name, in the order written (contiguous CPU tensors; the caller disposes them).</summary>
        public static List<(string Name, Tensor Tensor)> Read(string folder)
        {
            var manifest = JsonSerializer.Deserialize<Manifest>(File.ReadAllText(Path.Combine(folder, ManifestName)))
                ?? throw new InvalidDataException($"{Path.Combine(folder, ManifestName)} is empty.");
            return manifest.tensors.Select(e =>
            {
                byte[] bytes = File.ReadAllBytes(Path.Combine(folder, e.file));
                Tensor t = e.dtype switch
                {
                    "float32" => tensor(MemoryMarshal.Cast<byte, float>(bytes).ToArray(), e.shape),
                    "int64" => tensor(MemoryMarshal.Cast<byte, long>(bytes).ToArray(), e.shape),
                    _ => throw new InvalidDataException($"Tensor '{e.name}' has dtype '{e.dtype}' (float32 or int64 expected)."),
                };
                return (e.name, t);
            }).ToList();
        }
    }
}

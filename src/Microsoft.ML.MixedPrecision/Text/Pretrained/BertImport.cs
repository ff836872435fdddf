using System.IO;
using System.Linq;
using Microsoft.ML.MixedPrecision.Export;
using Microsoft.ML.MixedPrecision.Export.Proto;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Text.Pretrained
{
    /// <summary>
    /// Copies a pretrained encoder's weights, found in its ONNX graph by <see cref="BertOnnxReader"/>, into a
    /// <see cref="BertClassifier"/> of the shape they imply. ONNX stores the MatMul weights [in, out]: transposed into
    /// Linear's [out, in]; the query, key and value projections go into the attention's one fused projection. A graph
    /// without token-type embeddings gives zeros (both types start equal).
    /// </summary>
    internal static class BertImport
    {
        public static void Load(BertClassifier model, PretrainedTextEncoder encoder)
        {
            var layout = encoder.Layout;
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            Copy(layout.Words, model.WordEmbeddings.weight!, encoder.Source);
            Copy(layout.Positions, model.PositionEmbeddings.weight!, encoder.Source);
            if (layout.TokenTypes != null)
                Copy(layout.TokenTypes, model.TokenTypeEmbeddings.weight!, encoder.Source);
            else
                model.TokenTypeEmbeddings.weight!.zero_();
            Copy(layout.EmbeddingNorm, model.EmbeddingNorm, encoder.Source);
            var layers = model.Layers;
            for (int i = 0; i < layers.Count; i++)
                CopyLayer(layout.Layers[i], layers[i], encoder.Source);
        }

        private static void CopyLayer(OnnxBertLayer source, BertLayer target, string file)
        {
            Linear qkv = target.Attention.QueryKeyValue;
            long width = qkv.weight!.shape[1];
            var parts = new[] { source.Query, source.Key, source.Value };
            for (int part = 0; part < 3; part++)
                Copy(parts[part], qkv.weight!.narrow(0, part * width, width), qkv.bias!.narrow(0, part * width, width), file);
            Copy(source.AttentionOutput, target.Attention.Output, file);
            Copy(source.AttentionNorm, target.AttentionNorm, file);
            Copy(source.Intermediate, target.Intermediate, file);
            Copy(source.Output, target.Output, file);
            Copy(source.OutputNorm, target.OutputNorm, file);
        }

        private static void Copy(OnnxLinear source, Linear target, string file) => Copy(source, target.weight!, target.bias!, file);

        private static void Copy(OnnxLinear source, Tensor weight, Tensor bias, string file)
        {
            Copy(source.Weight, weight, file, transpose: true);
            Copy(source.Bias, bias, file);
        }

        private static void Copy(OnnxLayerNorm source, LayerNorm target, string file)
        {
            Copy(source.Scale, target.weight!, file);
            Copy(source.Bias, target.bias!, file);
        }

        private static void Copy(TensorProto source, Tensor target, string file, bool transpose = false)
        {
            long[] expected = transpose ? Enumerable.Reverse(target.shape).ToArray() : target.shape;
            if (source.DataType != (int)TensorProto.Types.DataType.Float || !source.Dims.SequenceEqual(expected))
                throw new InvalidDataException($"{file}: the initializer '{source.Name}' is not float32 [{string.Join(", ", expected)}] " +
                                               $"(it is type {source.DataType}, [{string.Join(", ", source.Dims)}]).");
            float[] values = OnnxTensorData.Floats(source); // sized by the values in the file: OnnxModelFile checked them against the dims
            Tensor value = tensor(values, expected);
            target.copy_(transpose ? value.t() : value);
        }
    }
}

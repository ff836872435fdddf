using System;
using System.IO;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;
using Microsoft.ML.Transforms.Image;
using SkiaSharp;

namespace Microsoft.ML.MixedPrecision.ImageDecoding
{
    /// <summary>Input row of the decoding step: the encoded bytes (PNG, JPEG, BMP, GIF, WebP, ...).</summary>
    public sealed class EncodedImageRow
    {
        /// <summary>Read from the column <see cref="ImageBytesDecoder.InputColumnName"/> (variable-length Vector&lt;Byte&gt;).</summary>
        [ColumnName(ImageBytesDecoder.InputColumnName)]
        [VectorType]
        public byte[]? Bytes;
    }

    /// <summary>Output row of the decoding step: the decoded image (any size; later stock steps resize it).</summary>
    public sealed class DecodedImageRow
    {
        /// <summary>The decoded image, written to the column <see cref="ImageBytesDecoder.OutputColumnName"/>.</summary>
        [ColumnName(ImageBytesDecoder.OutputColumnName)]
        [AnySizeImageType]
        public MLImage? Image;

        // One instance lives per cursor (ML.NET's CustomMapping creates it once per set of getters and calls the
        // mapping once per row it serves), so this counts the rows this cursor has decoded. Not a column.
        private long _rowsDecoded;

        internal long NextRowIndex() => _rowsDecoded++;
    }

    /// <summary>
    /// Decodes encoded image bytes into an <see cref="MLImage"/>. Saved in a model .zip as a CustomMapping with
    /// contract <see cref="ContractName"/> and this assembly's name; <c>mlContext.Model.Load</c> loads and registers
    /// the assembly itself (no <c>ComponentCatalog.RegisterAssembly</c> call by the consumer is needed), provided the
    /// assembly can be resolved (the consumer references the Microsoft.ML.MixedPrecision.ImageDecoding package).
    /// </summary>
    public static class ImageBytesDecoder
    {
        /// <summary>The CustomMapping contract the saved model names this step by (versioned: a changed decoder gets a new name).</summary>
        public const string ContractName = "Microsoft.ML.MixedPrecision.DecodeImageBytes.v1";

        /// <summary>Fixed input column of the step (CustomMapping saves no column names): the pipeline copies the user's bytes column here.</summary>
        public const string InputColumnName = "MixedPrecision.ImageBytes";

        /// <summary>Fixed output column of the step (ImageDataViewType of unknown size).</summary>
        public const string OutputColumnName = "MixedPrecision.DecodedImage";

        /// <summary>The estimator of the decoding step (a stock CustomMappingEstimator with our contract).</summary>
        public static CustomMappingEstimator<EncodedImageRow, DecodedImageRow> CreateEstimator(MLContext mlContext)
        {
            if (mlContext == null)
                throw new ArgumentNullException(nameof(mlContext));
            return mlContext.Transforms.CustomMapping<EncodedImageRow, DecodedImageRow>(Decode, ContractName);
        }

        /// <summary>
        /// Images with more pixels than this are refused before any pixel is decoded (Pillow's decompression-bomb limit,
        /// 2 × 89,478,485): a few bytes of PNG or JPEG header can claim 100,000 × 100,000 pixels, whose decode would take
        /// 40 GB and end the process instead of raising an exception.
        /// </summary>
        public const long MaxPixels = 178_956_970;

        /// <summary>The mapping. A static method of this assembly, so ML.NET records this assembly's name in the .zip.</summary>
        public static void Decode(EncodedImageRow input, DecodedImageRow output)
        {
            long row = output.NextRowIndex();
            // The image of the previous row is ours to release (ResizeImages may have released it already; Dispose is idempotent).
            output.Image?.Dispose();
            output.Image = null;

            byte[]? bytes = input.Bytes;
            string? problem = Problem(bytes);
            if (problem != null)
                throw WithReason(bytes == null || bytes.Length == 0
                    ? new InvalidOperationException(Describe(row, bytes) + problem + ".")
                    : new InvalidDataException(Describe(row, bytes) + problem + "."), problem);
            try
            {
                output.Image = MLImage.CreateFromStream(new MemoryStream(bytes!, writable: false)); // Problem() refused null and empty
            }
            catch (Exception e) when (e is ArgumentException || e is InvalidOperationException || e is NotSupportedException)
            {
                string reason = "the bytes are not an image format SkiaSharp can decode (" + e.Message + ")";
                throw WithReason(new InvalidDataException(Describe(row, bytes) + reason + ".", e), reason);
            }
        }

        /// <summary>
        /// Key of <see cref="Exception.Data"/> under which a decoding failure carries its short reason (without the row
        /// description), for callers that report many rows at once.
        /// </summary>
        public const string ReasonDataKey = "MixedPrecision.DecodeFailure";

        private static Exception WithReason(Exception e, string reason)
        {
            e.Data[ReasonDataKey] = reason;
            return e;
        }

        /// <summary>
        /// What makes <paramref name="bytes"/> undecodable as far as the header tells (no pixel is decoded): empty, not a
        /// format SkiaSharp knows, or more than <see cref="MaxPixels"/> pixels. Null when the header is fine.
        /// </summary>
        public static string? Problem(byte[]? bytes)
        {
            if (bytes == null || bytes.Length == 0)
                return "the value is empty (0 bytes)";
            using var data = SKData.CreateCopy(bytes);
            using var codec = SKCodec.Create(data);
            if (codec == null)
            {
                string head = BitConverter.ToString(bytes, 0, Math.Min(8, bytes.Length));
                return $"the bytes are not an image format SkiaSharp can decode ({bytes.Length} bytes, starting {head})";
            }
            long pixels = (long)codec.Info.Width * codec.Info.Height;
            return pixels > MaxPixels
                ? $"the image declares {codec.Info.Width:N0} × {codec.Info.Height:N0} = {pixels:N0} pixels, more than the {MaxPixels:N0} this decoder " +
                  "accepts (a decompression bomb or a damaged header; downscale the image)"
                : null;
        }

        private static string Describe(long row, byte[]? bytes)
        {
            string head = bytes == null ? "" : BitConverter.ToString(bytes, 0, Math.Min(8, bytes.Length));
            return $"Could not decode the image in column '{InputColumnName}' (the pipeline's copy of the model's image-bytes input column) " +
                   $"at row {row} (0-based, in the order this cursor read the rows; {bytes?.Length ?? 0} bytes" +
                   (head.Length > 0 ? ", starting " + head : "") + "): ";
        }
    }

    /// <summary>
    /// Marks an <see cref="MLImage"/> field as an image column of unknown size (<c>new ImageDataViewType()</c>, the type
    /// <c>LoadImages</c> produces). ML.NET 5.0.1's parameterless <c>[ImageType]</c> cannot do this: it registers
    /// <c>ImageDataViewType(0, 0)</c>, which throws. A CustomMapping's column types come from attributes only (no schema
    /// definition is saved), so the decoded column needs an attribute that yields the unknown-size type.
    /// </summary>
    [AttributeUsage(AttributeTargets.Field | AttributeTargets.Property)]
    public sealed class AnySizeImageTypeAttribute : DataViewTypeAttribute
    {
        /// <summary>Two of these attributes are equal: they register the same type.</summary>
        public override bool Equals(DataViewTypeAttribute other) => other is AnySizeImageTypeAttribute;

        /// <summary>The same for every instance (see <see cref="Equals(DataViewTypeAttribute)"/>).</summary>
        public override int GetHashCode() => typeof(AnySizeImageTypeAttribute).GetHashCode();

        /// <summary>Registers <see cref="MLImage"/> as an image column of unknown size.</summary>
        public override void Register() => DataViewTypeManager.Register(new ImageDataViewType(), typeof(MLImage), this);
    }

    /// <summary>Found by <c>mlContext.Model.Load</c> through its contract name.</summary>
    [CustomMappingFactoryAttribute(ImageBytesDecoder.ContractName)]
    public sealed class ImageBytesDecoderFactory : CustomMappingFactory<EncodedImageRow, DecodedImageRow>
    {
        /// <summary>The decoding function, <see cref="ImageBytesDecoder.Decode"/>.</summary>
        public override Action<EncodedImageRow, DecodedImageRow> GetMapping() => ImageBytesDecoder.Decode;
    }
}

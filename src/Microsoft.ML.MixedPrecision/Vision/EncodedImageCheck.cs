using System;
using System.Buffers.Binary;

namespace Microsoft.ML.MixedPrecision.Vision
{
    /// <summary>
    /// Structural checks of encoded image bytes that the decoder does not make: SkiaSharp decodes a truncated PNG or JPEG
    /// without an error, filling the missing rows with gray or black, so a cut-off download would train as a real
    /// picture. Only the end markers are looked at (no decoding); formats not listed pass.
    /// </summary>
    internal static class EncodedImageCheck
    {
        private static ReadOnlySpan<byte> PngSignature => new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A };
        private static ReadOnlySpan<byte> PngEnd => new byte[] { 0x49, 0x45, 0x4E, 0x44 }; // "IEND"
        private static ReadOnlySpan<byte> JpegStartOfScan => new byte[] { 0xFF, 0xDA };
        private static ReadOnlySpan<byte> JpegEndOfImage => new byte[] { 0xFF, 0xD9 };

        /// <summary>Null when the bytes end like a complete image, else what is missing (for the message).</summary>
        public static string? Truncation(ReadOnlySpan<byte> bytes)
        {
            if (bytes.StartsWith(PngSignature))
                return bytes.LastIndexOf(PngEnd) < 0 ? $"a truncated PNG: no IEND chunk in its {bytes.Length} bytes" : null;
            if (bytes.Length >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF)
            {
                // Entropy-coded data escapes 0xFF, so FF DA and FF D9 there are markers. The last scan must be followed by
                // the end-of-image marker (an EXIF thumbnail's own markers come before the main image's scans).
                int lastScan = bytes.LastIndexOf(JpegStartOfScan);
                if (lastScan < 0)
                    return $"a truncated JPEG: no image data (start-of-scan marker) in its {bytes.Length} bytes";
                return bytes.Slice(lastScan).IndexOf(JpegEndOfImage) < 0
                    ? $"a truncated JPEG: no end-of-image marker after its image data ({bytes.Length} bytes)"
                    : null;
            }
            if (bytes.Length >= 12 && bytes[0] == (byte)'R' && bytes[1] == (byte)'I' && bytes[2] == (byte)'F' && bytes[3] == (byte)'F'
                && bytes[8] == (byte)'W' && bytes[9] == (byte)'E' && bytes[10] == (byte)'B' && bytes[11] == (byte)'P')
            {
                long declared = 8L + BinaryPrimitives.ReadUInt32LittleEndian(bytes.Slice(4, 4));
                return declared > bytes.Length ? $"a truncated WebP: its header declares {declared} bytes, it has {bytes.Length}" : null;
            }
            if (bytes.Length >= 6 && bytes[0] == (byte)'B' && bytes[1] == (byte)'M')
            {
                long declared = BinaryPrimitives.ReadUInt32LittleEndian(bytes.Slice(2, 4)); // 0 in some writers' files: then unknown
                return declared > bytes.Length ? $"a truncated BMP: its header declares {declared} bytes, it has {bytes.Length}" : null;
            }
            return null;
        }
    }
}

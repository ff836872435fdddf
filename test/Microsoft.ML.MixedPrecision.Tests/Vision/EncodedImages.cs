using System;
using System.IO;
using System.IO.Compression;
using System.Text;

namespace Microsoft.ML.MixedPrecision.Tests.Vision
{
    /// <summary>
    /// Encoded image bytes written in the test, byte by byte, so a test can make the kinds an encoder library would not:
    /// PNG of any colour type (gray, gray + alpha, RGB, RGBA), baseline JPEG in gray or Adobe CMYK (4 components), and
    /// headers that declare more pixels than they carry. The JPEG writer codes only each 8×8 block's mean (DC
    /// coefficient, quantizer 1), so a block decodes to a flat colour exactly.
    /// </summary>
    internal static class EncodedImages
    {
        public const int Gray = 0, Rgb = 2, GrayAlpha = 4, Rgba = 6;

        /// <summary>An 8-bit PNG; <paramref name="pixel"/> gives the samples of (x, y) in the colour type's order.</summary>
        public static byte[] Png(int width, int height, int colorType, Func<int, int, byte[]> pixel)
        {
            int channels = colorType switch { Gray => 1, Rgb => 3, GrayAlpha => 2, Rgba => 4, _ => throw new ArgumentOutOfRangeException(nameof(colorType)) };
            var raw = new MemoryStream();
            for (int y = 0; y < height; y++)
            {
                raw.WriteByte(0); // filter: none
                for (int x = 0; x < width; x++)
                    raw.Write(pixel(x, y), 0, channels);
            }
            return PngFile(width, height, colorType, raw.ToArray());
        }

        /// <summary>A PNG whose header declares <paramref name="width"/> × <paramref name="height"/> but whose data is one short row.</summary>
        public static byte[] PngDeclaring(int width, int height) => PngFile(width, height, Gray, new byte[] { 0, 0, 0, 0 });

        private static byte[] PngFile(int width, int height, int colorType, byte[] rawRows)
        {
            var file = new MemoryStream();
            file.Write(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A });
            var header = new byte[13];
            BigEndian(header, 0, width);
            BigEndian(header, 4, height);
            header[8] = 8;
            header[9] = (byte)colorType;
            Chunk(file, "IHDR", header);
            var compressed = new MemoryStream();
            using (var zlib = new ZLibStream(compressed, CompressionLevel.Fastest, leaveOpen: true))
                zlib.Write(rawRows);
            Chunk(file, "IDAT", compressed.ToArray());
            Chunk(file, "IEND", Array.Empty<byte>());
            return file.ToArray();
        }

        private static void Chunk(Stream file, string type, byte[] data)
        {
            var length = new byte[4];
            BigEndian(length, 0, data.Length);
            file.Write(length);
            var typed = new byte[4 + data.Length];
            Encoding.ASCII.GetBytes(type, 0, 4, typed, 0);
            data.CopyTo(typed, 4);
            file.Write(typed);
            var crc = new byte[4];
            BigEndian(crc, 0, (int)Crc32(typed));
            file.Write(crc);
        }

        private static uint Crc32(byte[] data)
        {
            uint crc = 0xFFFFFFFF;
            foreach (byte b in data)
            {
                crc ^= b;
                for (int k = 0; k < 8; k++)
                    crc = (crc & 1) != 0 ? 0xEDB88320 ^ (crc >> 1) : crc >> 1;
            }
            return ~crc;
        }

        private static void BigEndian(byte[] target, int offset, int value)
        {
            target[offset] = (byte)(value >> 24);
            target[offset + 1] = (byte)(value >> 16);
            target[offset + 2] = (byte)(value >> 8);
            target[offset + 3] = (byte)value;
        }

        /// <summary>
        /// A baseline JPEG of 1 (gray) or 4 components (CMYK, with Adobe's APP14 marker saying "no colour transform").
        /// <paramref name="block"/> gives the component values of the 8×8 block whose top-left pixel is (x, y). CMYK values
        /// are stored as Adobe writes them, inverted (255 = no ink), which is how decoders read Adobe CMYK JPEGs.
        /// </summary>
        public static byte[] Jpeg(int width, int height, int components, Func<int, int, byte[]> block)
        {
            if (components != 1 && components != 4)
                throw new ArgumentOutOfRangeException(nameof(components));
            var file = new MemoryStream();
            void Marker(int code, byte[] body)
            {
                file.WriteByte(0xFF);
                file.WriteByte((byte)code);
                if (body == null)
                    return;
                file.WriteByte((byte)((body.Length + 2) >> 8));
                file.WriteByte((byte)(body.Length + 2));
                file.Write(body);
            }
            Marker(0xD8, null); // SOI
            if (components == 4)
                Marker(0xEE, new byte[] { (byte)'A', (byte)'d', (byte)'o', (byte)'b', (byte)'e', 0, 100, 0, 0, 0, 0, 0 }); // APP14, transform 0
            var quantizer = new byte[65];
            Array.Fill(quantizer, (byte)1, 1, 64);
            Marker(0xDB, quantizer); // DQT: table 0, all ones
            var frame = new byte[6 + 3 * components];
            frame[0] = 8;
            frame[1] = (byte)(height >> 8); frame[2] = (byte)height;
            frame[3] = (byte)(width >> 8); frame[4] = (byte)width;
            frame[5] = (byte)components;
            for (int c = 0; c < components; c++)
            {
                frame[6 + 3 * c] = (byte)(c + 1);
                frame[7 + 3 * c] = 0x11; // no subsampling
                frame[8 + 3 * c] = 0;
            }
            Marker(0xC0, frame); // SOF0
            // DC table 0: the 12 magnitude categories, each a 4-bit code (code = category). AC table 0: only end-of-block, code "0".
            var dc = new byte[1 + 16 + 12];
            dc[0] = 0x00;
            dc[4] = 12;
            for (int k = 0; k < 12; k++)
                dc[17 + k] = (byte)k;
            Marker(0xC4, dc);
            var ac = new byte[1 + 16 + 1];
            ac[0] = 0x10;
            ac[1] = 1;
            ac[17] = 0x00;
            Marker(0xC4, ac);
            var scan = new byte[4 + 2 * components];
            scan[0] = (byte)components;
            for (int c = 0; c < components; c++)
            {
                scan[1 + 2 * c] = (byte)(c + 1);
                scan[2 + 2 * c] = 0x00;
            }
            scan[^3] = 0; scan[^2] = 63; scan[^1] = 0;
            Marker(0xDA, scan); // SOS

            var bits = new BitWriter(file);
            var previous = new int[components];
            for (int by = 0; by < (height + 7) / 8; by++)
            {
                for (int bx = 0; bx < (width + 7) / 8; bx++)
                {
                    byte[] values = block(bx * 8, by * 8);
                    for (int c = 0; c < components; c++)
                    {
                        int coefficient = 8 * (values[c] - 128); // the DC of a flat block (quantizer 1)
                        int diff = coefficient - previous[c];
                        previous[c] = coefficient;
                        int magnitude = Math.Abs(diff), category = 0;
                        while (magnitude >> category != 0)
                            category++;
                        bits.Write(category, 4);
                        if (category > 0)
                            bits.Write(diff >= 0 ? diff : diff + (1 << category) - 1, category);
                        bits.Write(0, 1); // end of block: all AC coefficients zero
                    }
                }
            }
            bits.Flush();
            Marker(0xD9, null); // EOI
            return file.ToArray();
        }

        private sealed class BitWriter
        {
            private readonly Stream _stream;
            private int _buffer, _count;

            public BitWriter(Stream stream) => _stream = stream;

            public void Write(int value, int length)
            {
                for (int i = length - 1; i >= 0; i--)
                {
                    _buffer = (_buffer << 1) | ((value >> i) & 1);
                    if (++_count == 8)
                        Emit();
                }
            }

            public void Flush()
            {
                while (_count != 0)
                    Write(1, 1); // pad with ones
            }

            private void Emit()
            {
                _stream.WriteByte((byte)_buffer);
                if (_buffer == 0xFF)
                    _stream.WriteByte(0); // byte stuffing
                _buffer = 0;
                _count = 0;
            }
        }
    }
}

using System;
using System.Collections.Generic;
using System.IO;
using System.Security.Cryptography;
using System.Text;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Training.Checkpoints
{
    /// <summary>
    /// The bytes of one checkpoint file: a header (magic, format version), a UTF-8 JSON document of the plain values,
    /// the named tensors (name, dtype, shape, raw little-endian bytes) and a SHA-256 of everything before it. A file
    /// cut short or damaged fails the hash, so a reader never mistakes it for a good checkpoint.
    /// </summary>
    internal static class CheckpointFile
    {
        public const int FormatVersion = 1;

        private static readonly byte[] Magic = Encoding.ASCII.GetBytes("MPCKPT\r\n");
        private const int HashLength = 32;

        /// <summary>Writes <paramref name="json"/> and <paramref name="tensors"/> (any device, any dtype) to <paramref name="stream"/>.</summary>
        public static void Write(Stream stream, string json, IReadOnlyList<KeyValuePair<string, Tensor>> tensors)
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            using var hashed = new HashingStream(stream, hash);
            using (var writer = new BinaryWriter(hashed, Encoding.UTF8, leaveOpen: true))
            {
                writer.Write(Magic);
                writer.Write(FormatVersion);
                var jsonBytes = Encoding.UTF8.GetBytes(json);
                writer.Write(jsonBytes.Length);
                writer.Write(jsonBytes);
                writer.Write(tensors.Count);
                foreach (var (name, tensor) in tensors)
                {
                    using var scope = NewDisposeScope();
                    var host = tensor.detach().cpu().contiguous();
                    writer.Write(name);
                    writer.Write((int)host.dtype);
                    writer.Write(host.shape.Length);
                    foreach (long d in host.shape)
                        writer.Write(d);
                    var bytes = host.bytes;
                    writer.Write((long)bytes.Length);
                    writer.Write(bytes);
                }
            }
            stream.Write(hash.GetHashAndReset());
        }

        /// <summary>
        /// Reads a file written by <see cref="Write"/>: the JSON and the tensors (on the CPU; the caller disposes them).
        /// Throws <see cref="InvalidDataException"/>, saying why, for a file that is short, damaged or of another format.
        /// </summary>
        public static (string Json, Dictionary<string, Tensor> Tensors) Read(byte[] file)
        {
            if (file.Length < Magic.Length + 4 + HashLength || !file.AsSpan(0, Magic.Length).SequenceEqual(Magic))
                throw new InvalidDataException("it is not a checkpoint of this library (no header)");
            var body = file.AsSpan(0, file.Length - HashLength);
            if (!SHA256.HashData(body).AsSpan().SequenceEqual(file.AsSpan(file.Length - HashLength)))
                throw new InvalidDataException("its checksum does not match (the file was cut short or damaged, e.g. by a crash while it was written)");
            int version = BitConverter.ToInt32(file, Magic.Length);
            if (version != FormatVersion)
                throw new InvalidDataException($"it has format version {version}; this library reads version {FormatVersion}");

            var tensors = new Dictionary<string, Tensor>();
            try
            {
                using var reader = new BinaryReader(new MemoryStream(file, Magic.Length + 4, body.Length - Magic.Length - 4), Encoding.UTF8);
                string json = Encoding.UTF8.GetString(reader.ReadBytes(reader.ReadInt32()));
                int count = reader.ReadInt32();
                for (int i = 0; i < count; i++)
                {
                    string name = reader.ReadString();
                    var dtype = (ScalarType)reader.ReadInt32();
                    var shape = new long[reader.ReadInt32()];
                    for (int d = 0; d < shape.Length; d++)
                        shape[d] = reader.ReadInt64();
                    long length = reader.ReadInt64();
                    var tensor = empty(shape, dtype).DetachFromDisposeScope();
                    tensors.Add(name, tensor);
                    if (length != tensor.NumberOfElements * tensor.ElementSize)
                        throw new InvalidDataException($"tensor '{name}' has {length} bytes, not the {tensor.NumberOfElements * tensor.ElementSize} of its shape");
                    tensor.bytes = reader.ReadBytes(checked((int)length));
                }
                return (json, tensors);
            }
            catch (Exception e) when (e is EndOfStreamException || e is ArgumentException || e is OverflowException)
            {
                Dispose(tensors);
                throw new InvalidDataException($"its contents do not parse ({e.Message})", e);
            }
            catch
            {
                Dispose(tensors);
                throw;
            }
        }

        public static void Dispose(Dictionary<string, Tensor> tensors)
        {
            if (tensors == null)
                return;
            foreach (var t in tensors.Values)
                t.Dispose();
            tensors.Clear();
        }

        /// <summary>Passes writes through to a stream while hashing them.</summary>
        private sealed class HashingStream : Stream
        {
            private readonly Stream _inner;
            private readonly IncrementalHash _hash;

            public HashingStream(Stream inner, IncrementalHash hash)
            {
                _inner = inner;
                _hash = hash;
            }

            public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

            public override void Write(ReadOnlySpan<byte> buffer)
            {
                _hash.AppendData(buffer);
                _inner.Write(buffer);
            }

            public override void Flush() => _inner.Flush();
            public override bool CanRead => false;
            public override bool CanSeek => false;
            public override bool CanWrite => true;
            public override long Length => throw new NotSupportedException();
            public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
            public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
            public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
            public override void SetLength(long value) => throw new NotSupportedException();
        }
    }
}

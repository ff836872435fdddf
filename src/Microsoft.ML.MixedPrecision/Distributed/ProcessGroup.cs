using System;
using System.Diagnostics.CodeAnalysis;
using System.Threading;
using Microsoft.ML.MixedPrecision.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.MixedPrecision.Distributed
{
    /// <summary>
    /// The processes a fit trains with: <see cref="Alone"/> (one process; every collective is a no-op) or the world of an
    /// Open MPI job (<see cref="Open"/>). MPI is initialized once per process, at the first data-parallel fit, and finalized
    /// at process exit; one data-parallel fit at a time per process (the ranks' collectives must pair up in the same order).
    /// Collectives are blocking and called by every rank in the same order from the fit's thread.
    /// </summary>
    internal sealed class ProcessGroup : IDisposable
    {
        private static readonly object WorldLock = new object();
        private static OpenMpiHandles? _world;
        private static string _version = "";
        private static int _fitsInUse;

        /// <summary>One process: rank 0 of 1.</summary>
        public static readonly ProcessGroup Alone = new ProcessGroup(1, 0, null);

        private readonly OpenMpiHandles? _mpi;
        private int _disposed;

        private ProcessGroup(int size, int rank, OpenMpiHandles? mpi)
        {
            Size = size;
            Rank = rank;
            _mpi = mpi;
        }

        public int Size { get; }
        public int Rank { get; }
        public bool IsDistributed => Size > 1;

        /// <summary>Whether this process writes what the fit writes once (checkpoints): rank 0.</summary>
        public bool IsWriter => Rank == 0;

        /// <summary>"rank 1 of 2 (Open MPI v4.1.4)".</summary>
        public string Description => $"rank {Rank} of {Size}{(_version.Length > 0 ? $" ({_version})" : "")}";

        /// <summary>
        /// The group a fit with <paramref name="mode"/> trains in: <see cref="Alone"/> without a launcher (or a world of one, or
        /// Off), else the MPI world, initialized at its first use. Throws for Required without a launcher, under an MPI other
        /// than Open MPI, without libmpi, and when another data-parallel fit of this process is running.
        /// </summary>
        public static ProcessGroup Open(DataParallelMode mode, System.Collections.IDictionary environment)
        {
            if (mode == DataParallelMode.Off)
                return Alone;
            var launch = MpiLauncher.Detect(environment);
            if (launch == null)
                return mode == DataParallelMode.Required ? throw new InvalidOperationException(MpiLauncher.NotLaunched) : Alone;
            if (launch.Value.Size == 1)
                return Alone;
            if (Interlocked.CompareExchange(ref _fitsInUse, 1, 0) != 0)
                throw new InvalidOperationException("Another data-parallel fit of this process is training: the processes of an MPI job train one " +
                                                    "data-parallel fit at a time (fit one after the other, or set DataParallel = Off on the others).");
            try
            {
                var mpi = World();
                OpenMpiNative.Check(OpenMpiNative.MPI_Comm_size(mpi.CommWorld, out int size), "MPI_Comm_size");
                OpenMpiNative.Check(OpenMpiNative.MPI_Comm_rank(mpi.CommWorld, out int rank), "MPI_Comm_rank");
                return new ProcessGroup(size, rank, mpi);
            }
            catch
            {
                Interlocked.Exchange(ref _fitsInUse, 0);
                throw;
            }
        }

        private static OpenMpiHandles World()
        {
            lock (WorldLock)
            {
                if (_world is { } world)
                    return world;
                var handles = OpenMpiNative.Load();
                OpenMpiNative.Check(OpenMpiNative.MPI_Initialized(out int initialized), "MPI_Initialized");
                if (initialized == 0)
                {
                    OpenMpiNative.Check(OpenMpiNative.MPI_Init_thread(IntPtr.Zero, IntPtr.Zero, OpenMpiNative.ThreadSerialized, out _), "MPI_Init_thread");
                    AppDomain.CurrentDomain.ProcessExit += (_, _) => FinalizeWorld();
                }
                _version = OpenMpiNative.LibraryVersion();
                _world = handles;
                return handles;
            }
        }

        private static void FinalizeWorld()
        {
            lock (WorldLock)
            {
                if (OpenMpiNative.MPI_Finalized(out int finalized) == 0 && finalized == 0)
                    OpenMpiNative.MPI_Finalize();
            }
        }

        /// <summary>Sums <paramref name="tensor"/> (contiguous, CPU, float32 or float64) over the ranks, in place.</summary>
        public void SumInPlace(Tensor tensor)
        {
            if (_mpi is not { } mpi)
                return;
            var type = tensor.dtype switch
            {
                ScalarType.Float32 => mpi.Float,
                ScalarType.Float64 => mpi.Double,
                _ => throw new ArgumentException($"Only float32 and float64 tensors are summed over the ranks, not {tensor.dtype}.", nameof(tensor)),
            };
            Collective(tensor, (p, n) => OpenMpiNative.MPI_Allreduce(OpenMpiNative.InPlace, p, n, type, mpi.Sum, mpi.CommWorld), "MPI_Allreduce");
        }

        /// <summary>Copies rank 0's <paramref name="tensor"/> (contiguous, CPU, any type) into every rank's, in place.</summary>
        public void Broadcast(Tensor tensor)
        {
            if (_mpi is not { } mpi)
                return;
            Collective(tensor, (p, n) => OpenMpiNative.MPI_Bcast(p, n, mpi.Byte, 0, mpi.CommWorld), "MPI_Bcast", bytes: true);
        }

        /// <summary>Sums <paramref name="values"/> over the ranks, in place.</summary>
        public unsafe void SumInPlace(double[] values)
        {
            if (_mpi is not { } mpi || values.Length == 0)
                return;
            fixed (double* p = values)
                OpenMpiNative.Check(OpenMpiNative.MPI_Allreduce(OpenMpiNative.InPlace, (IntPtr)p, values.Length, mpi.Double, mpi.Sum, mpi.CommWorld), "MPI_Allreduce");
        }

        /// <summary>The smallest (<paramref name="largest"/> false) or largest of the ranks' <paramref name="value"/>s.</summary>
        public unsafe int Reduce(int value, bool largest)
        {
            if (_mpi is not { } mpi)
                return value;
            int result = value;
            OpenMpiNative.Check(OpenMpiNative.MPI_Allreduce(OpenMpiNative.InPlace, (IntPtr)(&result), 1, mpi.Int, largest ? mpi.Max : mpi.Min, mpi.CommWorld),
                "MPI_Allreduce");
            return result;
        }

        /// <summary>Rank 0's <paramref name="value"/>, on every rank.</summary>
        public unsafe int Broadcast(int value)
        {
            if (_mpi is not { } mpi)
                return value;
            int result = value;
            OpenMpiNative.Check(OpenMpiNative.MPI_Bcast((IntPtr)(&result), 1, mpi.Int, 0, mpi.CommWorld), "MPI_Bcast");
            return result;
        }

        /// <summary>Waits until every rank has called it.</summary>
        public void Barrier()
        {
            if (_mpi is { } mpi)
                OpenMpiNative.Check(OpenMpiNative.MPI_Barrier(mpi.CommWorld), "MPI_Barrier");
        }

        /// <summary>
        /// Ends the whole job because this rank failed: prints <paramref name="failure"/> with the rank to standard error and
        /// calls MPI_Abort, which makes mpirun kill every rank (none is left waiting in a collective) and exit non-zero.
        /// </summary>
        [DoesNotReturn]
        public void Abort(Exception failure)
        {
            var mpi = _mpi ?? throw new InvalidOperationException("Only a data-parallel group aborts the job.", failure);
            Console.Out.Flush();
            Console.Error.WriteLine($"Data-parallel fit failed on {Description}; aborting the MPI job: {failure}");
            Console.Error.Flush();
            OpenMpiNative.MPI_Abort(mpi.CommWorld, 1);
            Environment.Exit(1); // not reached: MPI_Abort ends the process
            throw new InvalidOperationException("unreachable");
        }

        private static void Collective(Tensor tensor, Func<IntPtr, int, int> call, string name, bool bytes = false)
        {
            if (tensor.device_type != DeviceType.CPU || !tensor.is_contiguous())
                throw new ArgumentException($"{name} takes contiguous CPU tensors.", nameof(tensor));
            long elementSize = tensor.element_size(), count = bytes ? tensor.numel() * elementSize : tensor.numel();
            long step = bytes ? 1 : elementSize, chunk = int.MaxValue / 2;
            IntPtr start = LibTorchAmpNative.TensorData(tensor);
            for (long done = 0; done < count; done += chunk)
                OpenMpiNative.Check(call(start + (nint)(done * step), (int)Math.Min(chunk, count - done)), name);
        }

        public void Dispose()
        {
            if (_mpi != null && Interlocked.Exchange(ref _disposed, 1) == 0)
                Interlocked.Exchange(ref _fitsInUse, 0);
        }
    }
}

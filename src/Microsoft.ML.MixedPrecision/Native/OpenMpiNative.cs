using System;
using System.Runtime.InteropServices;

namespace Microsoft.ML.MixedPrecision.Native
{
    /// <summary>
    /// Every entry point of Open MPI's C API that data-parallel training calls (docs/distributed.md), declared in one place
    /// as TorchSharp declares libtorch's. Open MPI's handles are not integers as MPICH's are: <c>MPI_COMM_WORLD</c>,
    /// <c>MPI_FLOAT</c>, <c>MPI_SUM</c>, … are the addresses of the exported symbols <c>ompi_mpi_comm_world</c>,
    /// <c>ompi_mpi_float</c>, <c>ompi_mpi_op_sum</c>, …, read from the library by <see cref="Load"/>. The library is
    /// first opened with RTLD_GLOBAL (as mpi4py does): Open MPI's components (mca_*.so) are loaded by libmpi and resolve
    /// libmpi's symbols globally, which .NET's own RTLD_LOCAL load would hide from them. Every call returns MPI_SUCCESS
    /// (0) or an error code; MPI's default error handler aborts the job before returning one.
    /// </summary>
    internal static unsafe class OpenMpiNative
    {
        /// <summary>Open MPI 4's C library (Debian 12: package libopenmpi3, installed with openmpi-bin).</summary>
        public const string Library = "libmpi.so.40";

        /// <summary>The thread level asked for: calls from any thread, one at a time (a data-parallel fit calls from its own thread).</summary>
        public const int ThreadSerialized = 2;

        /// <summary>Open MPI's <c>MPI_IN_PLACE</c>: <c>(void*)1</c>.</summary>
        public static readonly IntPtr InPlace = new IntPtr(1);

        private const int RtldNow = 0x2, RtldGlobal = 0x100;

        [DllImport(Library)] public static extern int MPI_Initialized(out int flag);
        [DllImport(Library)] public static extern int MPI_Finalized(out int flag);
        [DllImport(Library)] public static extern int MPI_Init_thread(IntPtr argc, IntPtr argv, int required, out int provided);
        [DllImport(Library)] public static extern int MPI_Finalize();
        [DllImport(Library)] public static extern int MPI_Comm_rank(IntPtr comm, out int rank);
        [DllImport(Library)] public static extern int MPI_Comm_size(IntPtr comm, out int size);
        [DllImport(Library)] public static extern int MPI_Allreduce(IntPtr sendBuffer, IntPtr receiveBuffer, int count, IntPtr datatype, IntPtr op, IntPtr comm);
        [DllImport(Library)] public static extern int MPI_Bcast(IntPtr buffer, int count, IntPtr datatype, int root, IntPtr comm);
        [DllImport(Library)] public static extern int MPI_Barrier(IntPtr comm);
        [DllImport(Library)] public static extern int MPI_Abort(IntPtr comm, int errorCode);
        [DllImport(Library)] public static extern int MPI_Get_library_version(byte* version, out int length);

        [DllImport("libc", EntryPoint = "dlopen")] private static extern IntPtr DlOpen(string file, int mode);
        [DllImport("libc", EntryPoint = "dlsym")] private static extern IntPtr DlSym(IntPtr handle, string symbol);
        [DllImport("libc", EntryPoint = "dlerror")] private static extern IntPtr DlError();

        /// <summary>
        /// Opens <paramref name="library"/> with RTLD_GLOBAL and reads Open MPI's handles from it. Throws
        /// <see cref="DllNotFoundException"/> naming the Debian package when the library is missing, and
        /// <see cref="NotSupportedException"/> when it is not Open MPI (no <c>ompi_mpi_comm_world</c>).
        /// </summary>
        public static OpenMpiHandles Load(string library = Library)
        {
            IntPtr handle = DlOpen(library, RtldNow | RtldGlobal);
            if (handle == IntPtr.Zero)
                throw new DllNotFoundException(
                    $"Data-parallel training (launched by mpirun) needs Open MPI's C library {library}, which could not be loaded " +
                    $"({Marshal.PtrToStringAnsi(DlError()) ?? "no reason given"}). Install it on every machine of the job: on Debian 12, " +
                    "'apt-get install --no-install-recommends openmpi-bin' (it brings libopenmpi3); or set DataParallel = DataParallelMode.Off " +
                    "to train each process alone.");
            IntPtr Symbol(string name) => DlSym(handle, name) is var address && address != IntPtr.Zero
                ? address
                : throw new NotSupportedException(
                    $"{library} does not export {name}: it is not Open MPI's library. Data-parallel training supports Open MPI only " +
                    "(Debian's openmpi-bin, Open MPI 4.x); launch with Open MPI's mpirun, or set DataParallel = DataParallelMode.Off.");
            return new OpenMpiHandles(
                CommWorld: Symbol("ompi_mpi_comm_world"), Byte: Symbol("ompi_mpi_byte"), Int: Symbol("ompi_mpi_int"),
                Float: Symbol("ompi_mpi_float"), Double: Symbol("ompi_mpi_double"),
                Sum: Symbol("ompi_mpi_op_sum"), Min: Symbol("ompi_mpi_op_min"), Max: Symbol("ompi_mpi_op_max"));
        }

        /// <summary>The library's name and version (MPI_Get_library_version up to its first comma), e.g. "Open MPI v4.1.4".</summary>
        public static string LibraryVersion()
        {
            byte* buffer = stackalloc byte[8192]; // MPI_MAX_LIBRARY_VERSION_STRING is 256 in Open MPI 4
            Check(MPI_Get_library_version(buffer, out int length), "MPI_Get_library_version");
            return Marshal.PtrToStringAnsi((IntPtr)buffer, Math.Max(0, length)).Split('\n', ',')[0].Trim();
        }

        /// <summary>Throws naming the call when an MPI call returned an error code (with the default handler, it aborts first).</summary>
        public static void Check(int result, string call)
        {
            if (result != 0)
                throw new InvalidOperationException($"{call} failed with MPI error code {result}.");
        }
    }

    /// <summary>Open MPI's predefined handles: addresses of the library's exported objects.</summary>
    internal readonly record struct OpenMpiHandles(IntPtr CommWorld, IntPtr Byte, IntPtr Int, IntPtr Float, IntPtr Double,
        IntPtr Sum, IntPtr Min, IntPtr Max);
}

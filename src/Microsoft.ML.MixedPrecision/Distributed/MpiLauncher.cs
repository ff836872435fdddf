using System;
using System.Collections;
using System.Globalization;

namespace Microsoft.ML.MixedPrecision.Distributed
{
    /// <summary>
    /// What the process's environment says about an MPI launcher: Open MPI's mpirun sets OMPI_COMM_WORLD_SIZE and
    /// OMPI_COMM_WORLD_RANK in every process it starts; MPICH's and Intel MPI's Hydra set PMI_SIZE and PMI_RANK (refused:
    /// the binding reads Open MPI's handles).
    /// </summary>
    internal static class MpiLauncher
    {
        public const string SizeVariable = "OMPI_COMM_WORLD_SIZE", RankVariable = "OMPI_COMM_WORLD_RANK";

        /// <summary>
        /// World size and rank from Open MPI's variables in <paramref name="environment"/>, or null when no launcher started
        /// the process. Throws <see cref="NotSupportedException"/> under another MPI's launcher and
        /// <see cref="InvalidOperationException"/> when the variables are malformed.
        /// </summary>
        public static (int Size, int Rank)? Detect(IDictionary environment)
        {
            string? size = environment[SizeVariable] as string, rank = environment[RankVariable] as string;
            if (size == null && rank == null)
            {
                if (environment["PMI_SIZE"] is string || environment["PMI_RANK"] is string)
                    throw new NotSupportedException(
                        "This process was started by an MPI launcher other than Open MPI's (PMI_SIZE/PMI_RANK are set, as MPICH's and Intel MPI's " +
                        "Hydra set them): only Open MPI is supported for data-parallel training. Launch with Open MPI's mpirun (Debian: openmpi-bin), " +
                        "or set DataParallel = DataParallelMode.Off to train each process alone.");
                return null;
            }
            if (!int.TryParse(size, NumberStyles.None, CultureInfo.InvariantCulture, out int n) || n < 1 ||
                !int.TryParse(rank, NumberStyles.None, CultureInfo.InvariantCulture, out int r) || r >= n)
                throw new InvalidOperationException(
                    $"Open MPI's launcher variables are malformed ({SizeVariable}='{size}', {RankVariable}='{rank}'): expected a world size of at " +
                    "least 1 and a rank below it. Launch with mpirun, or set DataParallel = DataParallelMode.Off.");
            return (n, r);
        }

        /// <summary>The message of a fit with <see cref="DataParallelMode.Required"/> started without a launcher.</summary>
        public const string NotLaunched =
            "Option DataParallel is Required, but this process was not started by Open MPI's mpirun (OMPI_COMM_WORLD_SIZE is not set). " +
            "Launch it with 'mpirun -np N dotnet yourapp.dll' (docs/distributed.md), or set DataParallel to Auto or Off.";
    }
}

namespace Microsoft.ML.MixedPrecision
{
    /// <summary>
    /// Whether a fit trains data-parallel over the processes an MPI launcher started (<c>mpirun -np N program</c>;
    /// docs/distributed.md). Data-parallel, every process reads the whole data, trains on its share of each epoch
    /// (<see cref="ClassificationTrainerOptionsBase.BatchSize"/> examples per process and batch, so an optimizer step sees
    /// BatchSize × GradientAccumulationSteps × N examples) and averages the gradients with the others before each step;
    /// every process's Fit returns the same model. Open MPI only.
    /// </summary>
    public enum DataParallelMode
    {
        /// <summary>Data-parallel when Open MPI's mpirun launched the process with more than one process; else trains alone (nothing of MPI is loaded).</summary>
        Auto,

        /// <summary>Never: each process trains alone, even under mpirun.</summary>
        Off,

        /// <summary>Data-parallel, and the fit fails with a message saying how to launch it when the process was not started by Open MPI's mpirun.</summary>
        Required,
    }
}

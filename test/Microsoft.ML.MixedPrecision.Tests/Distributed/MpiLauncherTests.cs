using System;
using System.Collections;
using FluentAssertions;
using Microsoft.ML.MixedPrecision.Distributed;
using Microsoft.ML.MixedPrecision.Native;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.MixedPrecision.Tests.Distributed
{
    /// <summary>Launcher detection from the environment and the Open MPI binding's errors, without mpirun.</summary>
    [TestClass]
    public sealed class MpiLauncherTests
    {
        [TestMethod]
        public void Open_mpi_variables_give_the_world_size_and_rank()
        {
            MpiLauncher.Detect(new Hashtable { ["OMPI_COMM_WORLD_SIZE"] = "4", ["OMPI_COMM_WORLD_RANK"] = "3" }).Should().Be((4, 3));
        }

        [TestMethod]
        public void Without_a_launcher_there_is_no_world()
        {
            MpiLauncher.Detect(new Hashtable { ["PATH"] = "/usr/bin" }).Should().BeNull();
        }

        [TestMethod]
        public void Mpich_hydra_variables_are_refused_saying_only_open_mpi_is_supported()
        {
            var detect = () => MpiLauncher.Detect(new Hashtable { ["PMI_SIZE"] = "2", ["PMI_RANK"] = "0" });

            detect.Should().Throw<NotSupportedException>().WithMessage("*only Open MPI is supported*DataParallelMode.Off*");
        }

        [TestMethod]
        public void A_rank_outside_the_world_is_refused()
        {
            var detect = () => MpiLauncher.Detect(new Hashtable { ["OMPI_COMM_WORLD_SIZE"] = "2", ["OMPI_COMM_WORLD_RANK"] = "2" });

            detect.Should().Throw<InvalidOperationException>().WithMessage("*OMPI_COMM_WORLD_RANK='2'*");
        }

        [TestMethod]
        public void Required_without_mpirun_fails_saying_how_to_launch()
        {
            var open = () => ProcessGroup.Open(DataParallelMode.Required, new Hashtable());

            open.Should().Throw<InvalidOperationException>().WithMessage("*DataParallel is Required*mpirun -np N*");
        }

        [TestMethod]
        public void Off_under_mpirun_and_a_world_of_one_train_alone()
        {
            var two = new Hashtable { ["OMPI_COMM_WORLD_SIZE"] = "2", ["OMPI_COMM_WORLD_RANK"] = "1" };
            var one = new Hashtable { ["OMPI_COMM_WORLD_SIZE"] = "1", ["OMPI_COMM_WORLD_RANK"] = "0" };

            ProcessGroup.Open(DataParallelMode.Off, two).Should().BeSameAs(ProcessGroup.Alone);
            ProcessGroup.Open(DataParallelMode.Auto, one).Should().BeSameAs(ProcessGroup.Alone);
            ProcessGroup.Open(DataParallelMode.Auto, new Hashtable()).Should().BeSameAs(ProcessGroup.Alone);
        }

        [TestMethod]
        public void A_missing_libmpi_is_reported_with_the_debian_package_to_install()
        {
            var load = () => OpenMpiNative.Load("libmpi-not-installed.so.40");

            load.Should().Throw<DllNotFoundException>().WithMessage("*libmpi-not-installed.so.40*apt-get install --no-install-recommends openmpi-bin*");
        }

        [TestMethod]
        public void A_library_that_is_not_open_mpi_is_refused()
        {
            var load = () => OpenMpiNative.Load("libc.so.6");

            load.Should().Throw<NotSupportedException>().WithMessage("*does not export ompi_mpi_comm_world*supports Open MPI only*");
        }

        [TestMethod]
        public void Open_mpis_library_gives_its_predefined_handles()
        {
            var handles = OpenMpiNative.Load();

            new[] { handles.CommWorld, handles.Float, handles.Double, handles.Int, handles.Byte, handles.Sum, handles.Min, handles.Max }
                .Should().OnlyHaveUniqueItems().And.NotContain(IntPtr.Zero);
        }
    }
}

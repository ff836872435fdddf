using Microsoft.VisualStudio.TestTools.UnitTesting;

// Tests run one at a time: the machine has 2 cores and libtorch already uses both for each op.
[assembly: DoNotParallelize]

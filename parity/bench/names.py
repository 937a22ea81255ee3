"""The benchmarks' recurrent cells, passes and execution paths, in report order. Framework-free:
the report, the plots and the comparison of stored runs read them without importing torch or
TensorFlow (:mod:`parity.bench.workloads`, which times them, needs both)."""

CELLS = ("simple_rnn", "lstm", "gru")
PASSES = ("forward", "train")
PATHS = ("keras-eager", "tf-function", "tf-function-xla", "torch-eager", "torch-compile",
         "torch-cuda")

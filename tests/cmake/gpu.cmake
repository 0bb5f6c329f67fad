# GPU tier (label gpu): every CUDA op against the CPU reference op over a grid
# of awkward shapes, fp32 and bf16 storage (tests/test_ops_cuda*.c).  Built
# whenever the CUDA backend is (CI compiles and links it); run on a GPU machine
# by tests/gpu/run.sh.  CI excludes the label.
if(TARGET hy_kernels_cuda)
  hy_add_test(test_ops_cuda SOURCES test_ops_cuda.c test_ops_cuda_seq.c LABELS gpu TIMEOUT 900)
endif()

# GPU tier (label gpu): built whenever the CUDA backend is (CI compiles and
# links it), run on a GPU machine by tests/gpu/run.sh; CI excludes the label.
#   test_ops_cuda       every CUDA op against the CPU reference op over a grid
#                       of awkward shapes, fp32 and bf16 storage
#   test_model_cuda     the whole model (spec12, a mid-size 1.5B-layout config)
#                       against the CPU: logits, loss, every gradient; GPU
#                       determinism; decoding on the GPU; greedy GPU == CPU
#   test_train_cuda     optimizer ops; 50 steps of SFT and DPO tracking the CPU,
#                       bitwise run to run and across a resume; memory plan error
#   test_train_cuda_15b (slow) the 1.5B config: 4096-token documents trained on
#                       the GPU; `hymba dump` CPU vs GPU
if(TARGET hy_kernels_cuda)
  hy_add_test(test_ops_cuda SOURCES test_ops_cuda.c test_ops_cuda_seq.c LABELS gpu TIMEOUT 900)
  hy_add_test(test_model_cuda SOURCES test_model_cuda.c LABELS gpu TIMEOUT 900)
  hy_add_test(test_train_cuda SOURCES test_train_cuda.c train_util.c LABELS gpu TIMEOUT 1200
              ARGS optim_ops_vs_cpu sft_gpu_tracks_cpu_deterministic_resume dpo_gpu_tracks_cpu_deterministic memory_plan_error)
  # op tests synchronise after every launch (faults reported where they happen);
  # the model/training tests give their CPU references more threads
  set_tests_properties(test_ops_cuda PROPERTIES ENVIRONMENT "HYMBA_BIN=$<TARGET_FILE:hymba>;OMP_NUM_THREADS=2;HYMBA_CUDA_SYNC=1")
  set_tests_properties(test_model_cuda test_train_cuda PROPERTIES ENVIRONMENT "HYMBA_BIN=$<TARGET_FILE:hymba>;OMP_NUM_THREADS=8")
  add_test(NAME test_train_cuda_15b COMMAND test_train_cuda hymba_15b_long_documents)
  set_tests_properties(test_train_cuda_15b PROPERTIES LABELS "gpu;slow" TIMEOUT 1800 RUN_SERIAL TRUE
    ENVIRONMENT "HYMBA_BIN=$<TARGET_FILE:hymba>;OMP_NUM_THREADS=8")
endif()

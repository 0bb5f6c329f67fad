# Incremental decoding == full forward at every step (spec12 and a random tiny
# config with a small window), sampling, stop strings, `hymba generate`/`chat`
# on the demo model (tests/test_decode.c).
hy_add_test(test_decode SOURCES test_decode.c LABELS cpu TIMEOUT 600)

# The same model-level cases and the CLI on the CUDA backend (label gpu, run by
# tests/gpu/run.sh; the CLI runs with --device auto).  fp32: twice the CPU
# tolerances (H100: the tiny model's forward disagrees with itself by 1.5e-5
# across prefix lengths, decode by 2.3e-5; spec12 6.5e-7).  bf16: tolerances
# scaled for bf16 storage (spec12 measured 2.2e-3 against 2e-2).
if(TARGET hy_kernels_cuda)
  set(HY_DECODE_GPU_CASES spec12_decode_every_step tiny_decode_every_step chunking_and_reset_do_not_matter
      official_window_flag greedy_and_seeded_sampling_reproducible cli_generate_demo cli_chat_demo)
  hy_add_test(test_decode_cuda SOURCES test_decode.c LABELS gpu TIMEOUT 900 ARGS ${HY_DECODE_GPU_CASES})
  target_compile_definitions(test_decode_cuda PRIVATE HY_DECODE_DEVICE="cuda" HY_DECODE_PRECISION="fp32" HY_DECODE_TOL_SCALE=2.0)
  hy_add_test(test_decode_cuda_bf16 SOURCES test_decode.c LABELS gpu TIMEOUT 900
              ARGS spec12_decode_every_step greedy_and_seeded_sampling_reproducible)
  target_compile_definitions(test_decode_cuda_bf16 PRIVATE HY_DECODE_DEVICE="cuda" HY_DECODE_PRECISION="bf16"
                             HY_DECODE_TOL_SCALE=2000.0)
endif()

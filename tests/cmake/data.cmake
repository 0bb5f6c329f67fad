# Dataset pipeline: JSONL reading, record validation, token store, loader, prepare.
hy_add_test(test_data SOURCES test_data.c LABELS cpu)
hy_add_test(test_store SOURCES test_store.c data_synth.c LABELS cpu)
hy_add_test(test_loader SOURCES test_loader.c data_synth.c LABELS cpu)
hy_add_test(test_prepare SOURCES test_prepare.c LABELS cpu)
hy_add_test(test_data_cli SOURCES test_data_cli.c LABELS cpu)
# Benchmark (not a test): prepare throughput on the shared data, loader speed.
add_executable(bench_prepare bench_prepare.c)
target_compile_options(bench_prepare PRIVATE ${HY_WARN})
target_link_libraries(bench_prepare PRIVATE hy_data hy_core)
target_compile_definitions(bench_prepare PRIVATE HY_SHARED_DIR="${HY_TEST_SHARED}")

# Tokenizer, chat template and loss mask (datasets/tokenizer*.c, datasets/chat.c).
hy_add_test(test_tokenizer SOURCES test_tokenizer.c LABELS cpu)
# All dataset strings and conversations against SentencePiece + jinja2 references
# (tests/tokenizer_ref.py); exit 77 = skipped when those Python modules are missing.
hy_add_test(test_tokenizer_ref SOURCES test_tokenizer_ref.c LABELS cpu slow TIMEOUT 900)
set_tests_properties(test_tokenizer_ref PROPERTIES SKIP_RETURN_CODE 77)
hy_add_test(test_chat SOURCES test_chat.c LABELS cpu)
# Benchmark (an executable, not a test): encode MB/s per core on ../shared/datasets.
add_executable(bench_tokenizer bench_tokenizer.c)
target_compile_options(bench_tokenizer PRIVATE ${HY_WARN})
target_link_libraries(bench_tokenizer PRIVATE hy_data hy_core Threads::Threads)
target_compile_definitions(bench_tokenizer PRIVATE HY_SHARED_DIR="${HY_TEST_SHARED}")
add_dependencies(test_tokenizer hymba) # tok_cli runs `hymba tokenize`

# The bundled demo: config, tokenizer, data sets, and that they match the generator.
hy_add_test(test_demo_data SOURCES test_demo_data.c LABELS cpu)
add_dependencies(test_demo_data hymba-gen-demo)
target_compile_definitions(test_demo_data PRIVATE HY_GEN_DEMO_BIN="$<TARGET_FILE:hymba-gen-demo>")

hy_add_test(test_model SOURCES test_model.c LABELS cpu TIMEOUT 600)
hy_add_test(test_model_15b SOURCES test_model_15b.c LABELS "cpu;slow" TIMEOUT 1800)
set_tests_properties(test_model_15b PROPERTIES SKIP_RETURN_CODE 77 RUN_SERIAL TRUE)

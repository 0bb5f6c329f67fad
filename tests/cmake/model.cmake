hy_add_test(test_model SOURCES test_model.c LABELS cpu TIMEOUT 600)

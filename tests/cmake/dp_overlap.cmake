hy_add_test(test_dp_overlap SOURCES test_dp_overlap.c train_util.c LABELS cpu TIMEOUT 600)

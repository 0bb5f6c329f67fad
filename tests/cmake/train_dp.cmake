hy_add_test(test_train_dp SOURCES test_train_dp.c train_util.c LABELS cpu TIMEOUT 900)

hy_add_test(test_train SOURCES test_train.c train_util.c LABELS cpu TIMEOUT 900)

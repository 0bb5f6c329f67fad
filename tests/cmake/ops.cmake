# CPU reference ops: forward values against double references and every
# backward against finite differences (tests/test_ops_grad.c).
hy_add_test(test_ops_grad SOURCES test_ops_grad.c LABELS cpu)

# `hymba bench` and its pieces (tests/test_bench.c): spec §11 FLOPs per token
# against the spec's table, mask pair counts, the profiling ops decorator
# (bitwise identical results), the CLI on the spec12 model, and the
# data-parallel bench on 2 tcp ranks through `hymba launch` (a few seconds).
hy_add_test(test_bench SOURCES test_bench.c LABELS cpu TIMEOUT 120)

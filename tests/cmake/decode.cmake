# Incremental decoding == full forward at every step (spec12 and a random tiny
# config with a small window), sampling, stop strings, `hymba generate`/`chat`
# on the demo model (tests/test_decode.c).
hy_add_test(test_decode SOURCES test_decode.c LABELS cpu TIMEOUT 600)

# Model config, safetensors I/O, checkpoint directories, init, `hymba init`
# and `hymba info` (core/config.c, core/safetensors.c, core/checkpoint.c,
# core/rng.c, cli/cmd_init.c, cli/cmd_info.c).
hy_add_test(test_config SOURCES test_config.c LABELS cpu)
hy_add_test(test_checkpoint SOURCES test_checkpoint.c LABELS cpu)
# Writes and reloads a random 1.5B checkpoint (~3 GB on disk, ~6 GB RAM).
hy_add_test(test_checkpoint_slow SOURCES test_checkpoint_slow.c LABELS cpu slow TIMEOUT 1800)

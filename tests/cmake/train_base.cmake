# Training foundations: recipes (libyaml), AdamW / schedules / clipping,
# durable filesystem helpers, metrics and the progress line.
hy_add_test(test_recipe SOURCES test_recipe.c LABELS cpu)
hy_add_test(test_optim SOURCES test_optim.c LABELS cpu)
hy_add_test(test_fsutil SOURCES test_fsutil.c LABELS cpu)
hy_add_test(test_metrics SOURCES test_metrics.c LABELS cpu)

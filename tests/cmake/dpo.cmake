# DPO, pipelines and export (issue 4): fast objective/gradient/export checks,
# and the slower end-to-end runs of hymba dpo / hymba run on the tiny demo model.
hy_add_test(test_dpo SOURCES test_dpo.c train_util.c LABELS cpu TIMEOUT 600)
hy_add_test(test_dpo_e2e SOURCES test_dpo_e2e.c train_util.c LABELS cpu TIMEOUT 1200)
